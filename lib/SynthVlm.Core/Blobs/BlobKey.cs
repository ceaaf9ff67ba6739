using System.Security.Cryptography;
using System.Text;

namespace SynthVlm.Blobs;

/// <summary>
/// Keys of the blob store: relative paths of '/'-separated segments made of letters, digits,
/// '.', '_' and '-' (no empty, "." or ".." segment, no leading '.'), so no key derived from
/// data can leave the store's root or name a hidden file.
/// </summary>
public static class BlobKey
{
    /// <summary>Longest accepted key, in characters.</summary>
    public const int MaxLength = 1024;

    private const int MaxSegmentLength = 128;

    /// <summary>Whether <paramref name="key"/> is a valid key.</summary>
    public static bool IsValid(string? key) => Validate(key) is null;

    /// <summary>Returns <paramref name="key"/> or throws <see cref="ArgumentException"/> naming the problem.</summary>
    public static string Check(string? key, string paramName = "key") =>
        Validate(key) is { } problem ? throw new ArgumentException($"Blob key '{key}' is invalid: {problem}.", paramName) : key!;

    /// <summary>
    /// A file-name-safe segment for an id that comes from data (a caption id, a run id): the id
    /// itself when it is already safe and short, otherwise its safe characters plus a hash of the
    /// whole id, so different ids never collide and nothing like "../x" survives.
    /// </summary>
    public static string Segment(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (id.Length is > 0 and <= 64 && id[0] != '.' && id.All(IsSafeChar))
        {
            return id;
        }
        var safe = new StringBuilder(48);
        foreach (var c in id)
        {
            if (safe.Length >= 40)
            {
                break;
            }
            safe.Append(IsSafeChar(c) && c != '.' ? c : '_');
        }
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id)).AsSpan(0, 8));
        return safe.Length == 0 ? hash : $"{safe}-{hash}";
    }

    /// <summary>The key of a generated image: runs/{run}/images/{caption}/{variant}.{extension}.</summary>
    public static string GeneratedImage(string run, string captionId, int variant, string extension = "png")
    {
        ArgumentOutOfRangeException.ThrowIfNegative(variant);
        return Check($"runs/{Segment(run)}/images/{Segment(captionId)}/{variant}.{extension}");
    }

    private static bool IsSafeChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-';

    private static string? Validate(string? key)
    {
        if (string.IsNullOrEmpty(key))
        {
            return "it is empty";
        }
        if (key.Length > MaxLength)
        {
            return $"longer than {MaxLength} characters";
        }
        if (key[0] == '/')
        {
            return "it is absolute (keys are relative to the store root)";
        }
        foreach (var segment in key.Split('/'))
        {
            if (segment.Length == 0)
            {
                return "it has an empty segment";
            }
            if (segment is "." or "..")
            {
                return "'.' and '..' segments are not allowed";
            }
            if (segment[0] == '.')
            {
                return "a segment starts with '.'";
            }
            if (segment.Length > MaxSegmentLength)
            {
                return $"a segment is longer than {MaxSegmentLength} characters";
            }
            if (!segment.All(IsSafeChar))
            {
                return "only letters, digits, '.', '_', '-' and '/' are allowed";
            }
        }
        return null;
    }
}
