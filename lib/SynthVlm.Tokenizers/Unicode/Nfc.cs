using System.Buffers;
using System.Collections.Frozen;
using System.Text;

namespace SynthVlm.Tokenizers.Unicode;

/// <summary>
/// Unicode NFC (canonical decomposition, canonical ordering, canonical composition) from tables
/// generated out of Python's unicodedata. It exists because every SynthVlm process runs with
/// InvariantGlobalization, where <see cref="string.Normalize()"/> returns its input unchanged.
/// </summary>
internal static partial class Nfc
{
    private const int HangulSBase = 0xAC00;
    private const int HangulLBase = 0x1100;
    private const int HangulVBase = 0x1161;
    private const int HangulTBase = 0x11A7;
    private const int HangulLCount = 19;
    private const int HangulVCount = 21;
    private const int HangulTCount = 28;
    private const int HangulNCount = HangulVCount * HangulTCount;
    private const int HangulSCount = HangulLCount * HangulNCount;

    // Below U+0300 no character combines or decomposes into something that recomposes
    // differently, so pure Latin-1 text is already NFC and skips the tables entirely.
    private const char FirstCombiningMark = '\u0300';

    private static readonly FrozenDictionary<int, byte> CombiningClasses = BuildCombiningClasses();
    private static readonly FrozenDictionary<int, (int Length, int C0, int C1, int C2, int C3)> Decompositions = BuildDecompositions();
    private static readonly FrozenDictionary<long, int> Compositions = BuildCompositions();

    /// <summary>True when <paramref name="text"/> is certainly NFC already (no character at or above U+0300).</summary>
    public static bool IsQuickNfc(ReadOnlySpan<char> text)
    {
        // A plain loop: MemoryExtensions.ContainsAnyInRange allocated on every call when measured
        // (.NET 10), and captions are too short for vectorizing to pay.
        foreach (var c in text)
        {
            if (c >= FirstCombiningMark)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Writes NFC of <paramref name="source"/> into <paramref name="destination"/>, which is grown
    /// (from the shared pool; the old array is returned) when too small. Returns the length written.
    /// Lone surrogates become U+FFFD, as they do when the text is encoded to UTF-8.
    /// </summary>
    public static int Normalize(ReadOnlySpan<char> source, ref char[] destination)
    {
        // Canonical decompositions are at most four code points; Hangul syllables three.
        var points = ArrayPool<int>.Shared.Rent(Math.Max(4 * source.Length, 4));
        try
        {
            var count = Decompose(source, points);
            ReorderMarks(points.AsSpan(0, count));
            count = Compose(points.AsSpan(0, count));
            var needed = 2 * count;
            if (destination.Length < needed)
            {
                ArrayPool<char>.Shared.Return(destination);
                destination = ArrayPool<char>.Shared.Rent(needed);
            }
            var written = 0;
            foreach (var cp in points.AsSpan(0, count))
            {
                written += new Rune(cp).EncodeToUtf16(destination.AsSpan(written));
            }
            return written;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(points);
        }
    }

    /// <summary>Convenience for tests and the trainer: NFC of a string.</summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (IsQuickNfc(text))
        {
            return text;
        }
        var buffer = ArrayPool<char>.Shared.Rent(Math.Max(2 * text.Length, 16));
        try
        {
            var length = Normalize(text, ref buffer);
            return new string(buffer, 0, length);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// NFD of <paramref name="text"/> (canonical decomposition and ordering, no composition), for
    /// callers that strip accents as Python's <c>unicodedata.normalize("NFD", ...)</c> lets them.
    /// </summary>
    internal static string Decompose(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        // Nothing below U+00C0 (the first precomposed letter, À) decomposes.
        if (!text.AsSpan().ContainsAnyExceptInRange('\0', '\u00BF'))
        {
            return text;
        }
        var points = ArrayPool<int>.Shared.Rent(Math.Max(4 * text.Length, 4));
        try
        {
            var count = Decompose(text, points);
            ReorderMarks(points.AsSpan(0, count));
            var builder = new StringBuilder(count + 8);
            foreach (var cp in points.AsSpan(0, count))
            {
                builder.Append(char.ConvertFromUtf32(cp));
            }
            return builder.ToString();
        }
        finally
        {
            ArrayPool<int>.Shared.Return(points);
        }
    }

    internal static int CombiningClass(int codePoint) =>
        codePoint < FirstCombiningMark ? 0 : CombiningClasses.GetValueOrDefault(codePoint);

    private static int Decompose(ReadOnlySpan<char> source, Span<int> points)
    {
        var count = 0;
        var index = 0;
        while (index < source.Length)
        {
            Rune.DecodeFromUtf16(source[index..], out var rune, out var consumed);
            index += consumed;
            var cp = rune.Value;
            if (cp is >= HangulSBase and < HangulSBase + HangulSCount)
            {
                var s = cp - HangulSBase;
                points[count++] = HangulLBase + (s / HangulNCount);
                points[count++] = HangulVBase + (s % HangulNCount / HangulTCount);
                if (s % HangulTCount != 0)
                {
                    points[count++] = HangulTBase + (s % HangulTCount);
                }
            }
            else if (Decompositions.TryGetValue(cp, out var d))
            {
                points[count++] = d.C0;
                if (d.Length > 1) { points[count++] = d.C1; }
                if (d.Length > 2) { points[count++] = d.C2; }
                if (d.Length > 3) { points[count++] = d.C3; }
            }
            else
            {
                points[count++] = cp;
            }
        }
        return count;
    }

    // Stable insertion sort of each run of non-starters by combining class (the runs are short).
    private static void ReorderMarks(Span<int> points)
    {
        for (var i = 1; i < points.Length; i++)
        {
            var cp = points[i];
            var ccc = CombiningClass(cp);
            if (ccc == 0)
            {
                continue;
            }
            var j = i;
            while (j > 0)
            {
                var previous = CombiningClass(points[j - 1]);
                if (previous <= ccc)
                {
                    break;
                }
                points[j] = points[j - 1];
                j--;
            }
            points[j] = cp;
        }
    }

    private static int Compose(Span<int> points)
    {
        if (points.Length == 0)
        {
            return 0;
        }
        var starterPos = 0;
        var starter = points[0];
        // A leading non-starter has no starter to join, so treat it as blocking.
        var lastClass = CombiningClass(starter) == 0 ? 0 : 256;
        var written = 1;
        for (var i = 1; i < points.Length; i++)
        {
            var cp = points[i];
            var cls = CombiningClass(cp);
            if ((lastClass < cls || lastClass == 0) && TryCompose(starter, cp, out var composite))
            {
                points[starterPos] = composite;
                starter = composite;
                continue;
            }
            if (cls == 0)
            {
                starterPos = written;
                starter = cp;
            }
            lastClass = cls;
            points[written++] = cp;
        }
        return written;
    }

    private static bool TryCompose(int first, int second, out int composite)
    {
        if (first is >= HangulLBase and < HangulLBase + HangulLCount && second is >= HangulVBase and < HangulVBase + HangulVCount)
        {
            composite = HangulSBase + ((((first - HangulLBase) * HangulVCount) + second - HangulVBase) * HangulTCount);
            return true;
        }
        if (first is >= HangulSBase and < HangulSBase + HangulSCount && (first - HangulSBase) % HangulTCount == 0
            && second is > HangulTBase and < HangulTBase + HangulTCount)
        {
            composite = first + second - HangulTBase;
            return true;
        }
        return Compositions.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }

    private static FrozenDictionary<int, byte> BuildCombiningClasses()
    {
        var data = CombiningClassData;
        var map = new Dictionary<int, byte>(data.Length / 2);
        for (var i = 0; i < data.Length; i += 2)
        {
            map[data[i]] = (byte)data[i + 1];
        }
        return map.ToFrozenDictionary();
    }

    private static FrozenDictionary<int, (int, int, int, int, int)> BuildDecompositions()
    {
        var data = DecompositionData;
        var map = new Dictionary<int, (int, int, int, int, int)>(data.Length / 6);
        for (var i = 0; i < data.Length; i += 6)
        {
            map[data[i]] = (data[i + 1], data[i + 2], data[i + 3], data[i + 4], data[i + 5]);
        }
        return map.ToFrozenDictionary();
    }

    private static FrozenDictionary<long, int> BuildCompositions()
    {
        var data = CompositionData;
        var map = new Dictionary<long, int>(data.Length / 3);
        for (var i = 0; i < data.Length; i += 3)
        {
            map[((long)data[i] << 21) | (uint)data[i + 1]] = data[i + 2];
        }
        return map.ToFrozenDictionary();
    }
}
