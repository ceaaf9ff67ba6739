namespace SynthVlm.Captions;

/// <summary>How to read a caption pool. Column names apply to JSON property names and to CSV/TSV headers.</summary>
public sealed record CaptionPoolOptions
{
    /// <summary>The largest caption accepted, in UTF-8 bytes: 1 MiB.</summary>
    public const int DefaultMaxCaptionBytes = 1 << 20;

    /// <summary>The largest <see cref="MaxCaptionBytes"/> allowed, so that a record's bound (four times it) stays a valid array length.</summary>
    public const int MaxCaptionBytesLimit = 1 << 28;

    /// <summary>The pool's format; <see cref="CaptionPoolFormat.Auto"/> detects it.</summary>
    public CaptionPoolFormat Format { get; init; } = CaptionPoolFormat.Auto;

    /// <summary>
    /// The caption field or column (JSON properties match exactly, CSV headers ignoring case).
    /// An image folder falls back to <c>text</c> when a line has no such field.
    /// </summary>
    public string CaptionColumn { get; init; } = "caption";

    /// <summary>The id field or column; when absent a record's id is <see cref="CaptionIds.ForContent"/>.</summary>
    public string IdColumn { get; init; } = "id";

    /// <summary>
    /// The image field or column. Null detects it: <c>image</c>, <c>image_path</c> or <c>file_name</c> give
    /// <see cref="PoolCaption.ImagePath"/>; <c>url</c> or <c>image_url</c> give <see cref="PoolCaption.Url"/>.
    /// A named column's values go to <see cref="PoolCaption.Url"/> when they start with http:// or https://, else to the path.
    /// </summary>
    public string? ImageColumn { get; init; }

    /// <summary>
    /// Whether a CSV/TSV file starts with a header row. Without one, field 0 is the caption and field 1 the image URL or path,
    /// and ids are content hashes.
    /// </summary>
    public bool HasHeader { get; init; } = true;

    /// <summary>
    /// The largest caption accepted, in UTF-8 bytes; longer ones are rejected. A whole record (line, array element, CSV row)
    /// longer than four times this is rejected without being buffered.
    /// </summary>
    public int MaxCaptionBytes { get; init; } = DefaultMaxCaptionBytes;

    /// <summary>The bound on one record's bytes: four times <see cref="MaxCaptionBytes"/>.</summary>
    internal int MaxRecordBytes => MaxCaptionBytes * 4;

    /// <summary>Bytes read from the file at a time; internal so tests can force refills at every boundary.</summary>
    internal int InitialBufferBytes { get; init; } = 64 * 1024;

    internal void Validate()
    {
        if (MaxCaptionBytes is < 1 or > MaxCaptionBytesLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxCaptionBytes), MaxCaptionBytes,
                $"{nameof(MaxCaptionBytes)} must be between 1 and {MaxCaptionBytesLimit}.");
        }
        if (InitialBufferBytes < 16)
        {
            throw new ArgumentOutOfRangeException(nameof(InitialBufferBytes), InitialBufferBytes, "The read buffer must hold at least 16 bytes.");
        }
        RequireName(CaptionColumn, nameof(CaptionColumn));
        RequireName(IdColumn, nameof(IdColumn));
        if (ImageColumn is not null)
        {
            RequireName(ImageColumn, nameof(ImageColumn));
        }
        if (!Enum.IsDefined(Format))
        {
            throw new ArgumentOutOfRangeException(nameof(Format), Format, "Unknown caption pool format.");
        }
    }

    private static void RequireName(string? value, string name)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new ArgumentException($"{name} must name a field; it is empty.", name);
        }
    }
}
