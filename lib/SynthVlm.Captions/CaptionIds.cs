using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace SynthVlm.Captions;

/// <summary>Stable ids for captions that come without one.</summary>
public static class CaptionIds
{
    private const int StackLimit = 1024;

    /// <summary>
    /// <c>"h"</c> followed by the first 16 lowercase hex digits (8 bytes) of SHA-256 over the caption's UTF-8 bytes:
    /// the same caption always gets the same id, whichever file or run it comes from.
    /// </summary>
    /// <param name="caption">The caption text.</param>
    /// <returns>An id such as <c>h1f0c9d…</c> (17 characters).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="caption"/> is null.</exception>
    public static string ForContent(string caption)
    {
        ArgumentNullException.ThrowIfNull(caption);
        var byteCount = Encoding.UTF8.GetMaxByteCount(caption.Length);
        byte[]? rented = null;
        var bytes = byteCount <= StackLimit ? stackalloc byte[StackLimit] : (rented = ArrayPool<byte>.Shared.Rent(byteCount));
        try
        {
            var written = Encoding.UTF8.GetBytes(caption, bytes);
            Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(bytes[..written], hash);
            return string.Concat("h", Convert.ToHexStringLower(hash[..8]));
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
