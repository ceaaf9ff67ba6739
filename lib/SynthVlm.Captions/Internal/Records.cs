using System.Text;
using System.Text.Unicode;

namespace SynthVlm.Captions.Internal;

/// <summary>Turns the fields found in one record into a <see cref="PoolCaption"/> or a <see cref="PoolReject"/>.</summary>
internal sealed class Records
{
    private const int ExcerptChars = 200;
    private readonly int _maxCaptionBytes;
    private readonly string _captionColumn;

    public Records(CaptionPoolOptions options)
    {
        _maxCaptionBytes = options.MaxCaptionBytes;
        _captionColumn = options.CaptionColumn;
    }

    /// <summary>The ordinal the next record gets.</summary>
    public long NextOrdinal { get; private set; }

    public PoolReject Reject(long line, string reason, ReadOnlySpan<byte> excerpt, string? id = null) =>
        new(NextOrdinal++, line, reason, excerpt.IsEmpty ? null : Excerpt(excerpt), string.IsNullOrWhiteSpace(id) ? null : id);

    public PoolReject Reject(long line, string reason, string? excerpt) =>
        new(NextOrdinal++, line, reason, excerpt is null ? null : Truncate(excerpt));

    /// <summary>A caption, or the reject that says why the caption or id cannot be used.</summary>
    public PoolRecord Caption(long line, string? id, string? caption, string? imagePath, string? url, bool hadInvalidUtf8,
        ReadOnlySpan<byte> excerpt, string? captionName = null)
    {
        var problem = CaptionProblem(caption, captionName ?? _captionColumn);
        if (problem is not null)
        {
            return Reject(line, problem, excerpt, id);
        }
        var given = !string.IsNullOrWhiteSpace(id);
        return new PoolCaption(NextOrdinal++, line, given ? id! : CaptionIds.ForContent(caption!), given, caption!,
            imagePath, url, hadInvalidUtf8);
    }

    private string? CaptionProblem(string? caption, string name)
    {
        if (caption is null)
        {
            return $"no caption field '{name}'";
        }
        if (caption.Length == 0)
        {
            return $"caption field '{name}' is empty";
        }
        if (string.IsNullOrWhiteSpace(caption))
        {
            return $"caption field '{name}' is whitespace only";
        }
        // UTF-8 never takes fewer bytes than UTF-16 code units, nor more than three per unit.
        if (caption.Length > _maxCaptionBytes || (caption.Length * 3L > _maxCaptionBytes && Encoding.UTF8.GetByteCount(caption) > _maxCaptionBytes))
        {
            return $"caption is {Encoding.UTF8.GetByteCount(caption)} UTF-8 bytes, over MaxCaptionBytes ({_maxCaptionBytes})";
        }
        return null;
    }

    /// <summary>
    /// The bytes themselves when they are UTF-8, else a copy with each invalid sequence replaced by U+FFFD
    /// (the JSON or CSV structure is ASCII, so it survives the replacement).
    /// </summary>
    public static ReadOnlySpan<byte> ToValidUtf8(ReadOnlySpan<byte> bytes, out bool hadInvalid)
    {
        hadInvalid = !Utf8.IsValid(bytes);
        return hadInvalid ? Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(bytes)) : bytes;
    }

    public static string Excerpt(ReadOnlySpan<byte> bytes)
    {
        // Four bytes at most per character, so this many bytes always give the 200 characters when there are that many.
        var head = bytes.Length > ExcerptChars * 4 ? bytes[..(ExcerptChars * 4)] : bytes;
        return Truncate(Encoding.UTF8.GetString(head));
    }

    private static string Truncate(string text)
    {
        if (text.Length <= ExcerptChars)
        {
            return text;
        }
        var cut = char.IsHighSurrogate(text[ExcerptChars - 1]) ? ExcerptChars - 1 : ExcerptChars;
        return text[..cut];
    }
}
