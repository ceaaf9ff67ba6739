using System.Security.Cryptography;
using System.Text;

namespace SynthVlm.Recaptioning.Sources;

/// <summary>Stable, file-name-safe ids for recaptioned images.</summary>
public static class RecaptionIds
{
    /// <summary>
    /// The id for a relative path or key: '\' becomes '/', the last extension is dropped (<c>a/b.jpg</c> → <c>a/b</c>,
    /// as WebDataset keys and imagefolder stems read), and every character other than ASCII letters, digits,
    /// <c>. _ - /</c> becomes '_'. Empty path segments are dropped and segments of dots only (<c>..</c>) become underscores, so an id never climbs out of a folder. Different inputs may sanitise to the same
    /// id (<c>a b.jpg</c> and <c>a_b.png</c>); the job reports the later one as a duplicate.
    /// </summary>
    /// <param name="relative">A relative path or key.</param>
    /// <param name="dropExtension">Whether to drop the file extension (true for paths, false for keys and given ids).</param>
    /// <returns>The id, or null when nothing usable is left.</returns>
    public static string? Sanitize(string relative, bool dropExtension)
    {
        ArgumentNullException.ThrowIfNull(relative);
        var text = relative.Replace('\\', '/');
        if (dropExtension)
        {
            var slash = text.LastIndexOf('/');
            var dot = text.LastIndexOf('.');
            if (dot > slash + 1)
            {
                text = text[..dot];
            }
        }
        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '/' ? c : '_');
        }
        // Empty segments go, and segments of dots only ("..", ".") become underscores: an id is also a relative file
        // name (extracted images), and must not climb out of its folder.
        var segments = builder.ToString().Split('/', StringSplitOptions.RemoveEmptyEntries)
            .Select(segment => segment.All(c => c == '.') ? new string('_', segment.Length) : segment);
        var id = string.Join('/', segments);
        return id.Length == 0 ? null : id;
    }

    /// <summary>A 64-bit fingerprint of an id (first 8 bytes of SHA-256 over its UTF-8): what the job keeps per id seen.</summary>
    internal static ulong Fingerprint(string id)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(id), hash);
        return BitConverter.ToUInt64(hash);
    }
}
