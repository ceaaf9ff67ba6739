namespace SynthVlm.Captions.Internal;

/// <summary>Column and field names with a fixed meaning, spelled once.</summary>
internal static class KnownColumns
{
    public const string FileName = "file_name";

    public const string MetadataFile = "metadata.jsonl";

    /// <summary>Names detected as an image path when <see cref="CaptionPoolOptions.ImageColumn"/> is null.</summary>
    public static readonly string[] ImagePathNames = ["image", "image_path"];

    /// <summary>Names detected as an image URL when <see cref="CaptionPoolOptions.ImageColumn"/> is null.</summary>
    public static readonly string[] UrlNames = ["url", "image_url"];

    public static ReadOnlySpan<byte> FileNameUtf8 => "file_name"u8;

    public static bool IsUrl(string? value) =>
        value is not null &&
        (value.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || value.StartsWith("https://", StringComparison.OrdinalIgnoreCase));
}
