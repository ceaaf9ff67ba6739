using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace SynthVlm.Curation;

/// <summary>
/// The key for exact-duplicate detection: two captions are duplicates when their normalised forms
/// are equal. Normalisation, in order:
/// <list type="number">
/// <item>lone surrogates become U+FFFD (as in UTF-8 with errors='replace');</item>
/// <item>fullwidth ASCII (U+FF01–U+FF5E) and the ideographic space fold to ASCII — the part of
/// NFKC that shows up in scraped captions (full NFKC is not available: InvariantGlobalization
/// makes string.Normalize a no-op);</item>
/// <item>whitespace (Python's str.isspace) separates tokens; each token is lower-cased as Python's
/// str.lower does;</item>
/// <item>punctuation (general category P*), control (Cc) and format (Cf: zero-width spaces, BOM,
/// soft hyphen) characters are removed;</item>
/// <item>non-empty tokens are joined by one space.</item>
/// </list>
/// So "A dog, running!" and "a  dog running" collide, while "a dog" and "a dog 2" do not; canonical
/// equivalents written differently (precomposed é vs e + U+0301) are not merged.
/// Hashes are the first 8 or 16 bytes of SHA-256 over the UTF-8 of the normalised text
/// (big-endian), so they are stable across processes, machines and versions of .NET.
/// </summary>
public static class CaptionNormalizer
{
    private const int FullwidthFirst = 0xFF01;
    private const int FullwidthLast = 0xFF5E;
    private const int FullwidthOffset = 0xFEE0;
    private const int IdeographicSpace = 0x3000;

    /// <summary>The normalised form of <paramref name="text"/> (empty for empty or punctuation-only text).</summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var scratch = ArrayPool<int>.Shared.Rent(Math.Max(3 * text.Length, 1));
        try
        {
            var count = NormalizeTo(text, scratch);
            var sb = new StringBuilder(count);
            foreach (var cp in scratch.AsSpan(0, count))
            {
                sb.Append(new Rune(cp).ToString());
            }
            return sb.ToString();
        }
        finally
        {
            ArrayPool<int>.Shared.Return(scratch);
        }
    }

    /// <summary>128-bit duplicate key of <paramref name="text"/> (after <see cref="Normalize"/>).</summary>
    public static UInt128 Hash128(string text)
    {
        Span<byte> digest = stackalloc byte[32];
        Digest(text, digest);
        return new UInt128(BinaryPrimitives.ReadUInt64BigEndian(digest), BinaryPrimitives.ReadUInt64BigEndian(digest[8..]));
    }

    /// <summary>64-bit duplicate key of <paramref name="text"/> (the high half of <see cref="Hash128"/>).</summary>
    public static ulong Hash64(string text)
    {
        Span<byte> digest = stackalloc byte[32];
        Digest(text, digest);
        return BinaryPrimitives.ReadUInt64BigEndian(digest);
    }

    /// <summary>A 128-bit key as 32 lower-case hex digits (usable as a content-derived caption id).</summary>
    public static string ToHex(UInt128 hash) => hash.ToString("x32", CultureInfo.InvariantCulture);

    private static void Digest(string text, Span<byte> digest)
    {
        ArgumentNullException.ThrowIfNull(text);
        var scratch = ArrayPool<int>.Shared.Rent(Math.Max(3 * text.Length, 1));
        // A code point is at most 4 UTF-8 bytes.
        var bytes = ArrayPool<byte>.Shared.Rent(Math.Max(4 * 2 * text.Length, 1));
        try
        {
            var count = NormalizeTo(text, scratch);
            var length = 0;
            foreach (var cp in scratch.AsSpan(0, count))
            {
                length += new Rune(cp).EncodeToUtf8(bytes.AsSpan(length));
            }
            SHA256.HashData(bytes.AsSpan(0, length), digest);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
            ArrayPool<int>.Shared.Return(scratch);
        }
    }

    // scratch: the decoded text in the first third, lower-cased tokens (≤ 2 code points each) after it.
    private static int NormalizeTo(string text, int[] scratch)
    {
        var n = PythonText.Decode(text, scratch, out _);
        var cps = scratch.AsSpan(0, n);
        for (var i = 0; i < n; i++)
        {
            var c = cps[i];
            if (c is >= FullwidthFirst and <= FullwidthLast)
            {
                cps[i] = c - FullwidthOffset;
            }
            else if (c == IdeographicSpace)
            {
                cps[i] = ' ';
            }
        }
        var lowered = scratch.AsSpan(n);
        var written = 0;
        var i0 = 0;
        while (i0 < n)
        {
            if (PythonText.IsSpace(cps[i0]))
            {
                i0++;
                continue;
            }
            var end = i0;
            while (end < n && !PythonText.IsSpace(cps[end]))
            {
                end++;
            }
            var tokenStart = written;
            if (written > 0)
            {
                lowered[written++] = ' ';
            }
            var contentStart = written;
            var length = PythonText.Lower(cps[i0..end], lowered[written..]);
            for (var k = 0; k < length; k++)
            {
                var c = lowered[contentStart + k];
                if (!IsDropped(c))
                {
                    lowered[written++] = c;
                }
            }
            if (written == contentStart)
            {
                written = tokenStart;
            }
            i0 = end;
        }
        lowered[..written].CopyTo(scratch);
        return written;
    }

    private static bool IsDropped(int cp)
    {
        var category = CharUnicodeInfo.GetUnicodeCategory(cp);
        return category is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation
            or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation
            or UnicodeCategory.OtherPunctuation or UnicodeCategory.Control or UnicodeCategory.Format;
    }
}
