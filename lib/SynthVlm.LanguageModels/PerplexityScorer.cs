using System.Numerics;

namespace SynthVlm.LanguageModels;

/// <summary>
/// Perplexity of a text exactly as Data-Juicer's <c>perplexity_filter</c> computes its
/// <c>perplexity</c> statistic (data_juicer/ops/filter/perplexity_filter.py,
/// <c>PerplexityFilter.compute_stats_single</c>): the text is split into SentencePiece pieces
/// (<c>encode_as_pieces</c>), the pieces are joined with single spaces, and for every line of that
/// string (Python <c>str.splitlines</c>) the KenLM score with &lt;s&gt; and &lt;/s&gt; is added to
/// <c>logits</c> and <c>len(line.split()) + 1</c> to <c>length</c>; the statistic is
/// <c>round(10 ** (-logits / length), 1)</c>, or 0.0 when there is no line (empty or
/// whitespace-only text). Thread-safe: both models are immutable.
/// </summary>
/// <param name="tokenizer">The SentencePiece model (Data-Juicer: <c>{lang}.sp.model</c>).</param>
/// <param name="languageModel">The KenLM model, ARPA or binary (Data-Juicer: <c>{lang}.arpa.bin</c>); see <see cref="NgramModelLoader"/>.</param>
public sealed class PerplexityScorer(SentencePieceModel tokenizer, INgramModel languageModel)
{
    private readonly SentencePieceModel _tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
    private readonly INgramModel _languageModel = languageModel ?? throw new ArgumentNullException(nameof(languageModel));

    /// <summary>
    /// Data-Juicer's perplexity statistic for <paramref name="text"/>, rounded to one decimal as
    /// Python's <c>round(x, 1)</c> does (exact binary value, ties to even). Where Python's
    /// <c>10.0 ** x</c> would overflow and raise, this returns +∞.
    /// </summary>
    public double Perplexity(string text) => PythonRound1(RawPerplexity(text));

    /// <summary>The same statistic before rounding.</summary>
    public double RawPerplexity(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var joined = string.Join(' ', _tokenizer.EncodeAsPieces(text));
        var logits = 0.0;
        long length = 0;
        var rest = joined.AsSpan();
        while (!rest.IsEmpty)
        {
            var line = NextLine(ref rest);
            logits += _languageModel.Score(line, bos: true, eos: true);
            length += CountPythonWords(line) + 1;
        }
        return length != 0 ? Math.Pow(10.0, -logits / length) : 0.0;
    }

    // str.splitlines(): \n, \r, \r\n, \v, \f, \x1c, \x1d, \x1e, \x85, \u2028, \u2029 end a line;
    // a final line without a terminator counts, an empty remainder does not.
    private static ReadOnlySpan<char> NextLine(ref ReadOnlySpan<char> rest)
    {
        for (var i = 0; i < rest.Length; i++)
        {
            var c = rest[i];
            if (c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029')
            {
                var line = rest[..i];
                var skip = c == '\r' && i + 1 < rest.Length && rest[i + 1] == '\n' ? 2 : 1;
                rest = rest[(i + skip)..];
                return line;
            }
        }
        var last = rest;
        rest = default;
        return last;
    }

    // str.split() with no argument: runs of str.isspace() characters separate words.
    internal static int CountPythonWords(ReadOnlySpan<char> line)
    {
        var count = 0;
        var inWord = false;
        foreach (var c in line)
        {
            var space = char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';
            if (!space && !inWord)
            {
                count++;
            }
            inWord = !space;
        }
        return count;
    }

    /// <summary>
    /// Python's <c>round(x, 1)</c>: the decimal with one fractional digit nearest to the exact binary
    /// value of <paramref name="x"/>, ties to even, returned as the nearest double.
    /// </summary>
    internal static double PythonRound1(double x)
    {
        if (double.IsNaN(x) || double.IsInfinity(x) || x == 0)
        {
            return x;
        }
        var bits = BitConverter.DoubleToInt64Bits(Math.Abs(x));
        var exponent = (int)((bits >> 52) & 0x7FF);
        var mantissa = bits & 0xFFFFFFFFFFFFFL;
        if (exponent == 0)
        {
            exponent = 1;
        }
        else
        {
            mantissa |= 1L << 52;
        }
        var shift = 1075 - exponent; // |x| = mantissa / 2^shift
        if (shift <= 0)
        {
            return x; // already an integer
        }
        var scaled = new BigInteger(mantissa) * 10;
        var divisor = BigInteger.One << shift;
        var quotient = BigInteger.DivRem(scaled, divisor, out var remainder);
        var twice = remainder * 2;
        if (twice > divisor || (twice == divisor && !quotient.IsEven))
        {
            quotient += 1;
        }
        var result = (double)quotient / 10.0;
        return x < 0 ? -result : result;
    }
}
