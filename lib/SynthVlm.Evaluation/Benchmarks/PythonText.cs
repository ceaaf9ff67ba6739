using System.Globalization;
using System.Numerics;
using System.Text;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// The Python string and number operations the official evaluation scripts' parsing and scoring
/// depend on, with Python's semantics: whitespace as <c>str.isspace</c> sees it (.NET's whitespace
/// plus U+001C..U+001F), <c>split()</c> and <c>strip()</c> without arguments, <c>str.lower</c>,
/// slicing by code point, <c>int(str)</c>, universal-newline lines, <c>round(x, n)</c> (Python 2 ties
/// away from zero, Python 3 ties to even, both on the double's exact value) and <c>json.dumps</c>'s
/// default output.
/// </summary>
internal static class PythonText
{
    /// <summary>Python's <c>str.isspace</c> for one UTF-16 unit: .NET's white space plus U+001C–U+001F.</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001c' and <= '\u001f';

    /// <summary>Python's <c>s.split()</c>: runs of whitespace separate, no empty parts.</summary>
    public static List<string> Split(string s)
    {
        var parts = new List<string>();
        var start = -1;
        for (var i = 0; i < s.Length; i++)
        {
            if (IsSpace(s[i]))
            {
                if (start >= 0)
                {
                    parts.Add(s[start..i]);
                    start = -1;
                }
            }
            else if (start < 0)
            {
                start = i;
            }
        }
        if (start >= 0)
        {
            parts.Add(s[start..]);
        }
        return parts;
    }

    /// <summary>Python's <c>s.strip()</c>.</summary>
    public static string Strip(string s)
    {
        var a = 0;
        var b = s.Length;
        while (a < b && IsSpace(s[a]))
        {
            a++;
        }
        while (b > a && IsSpace(s[b - 1]))
        {
            b--;
        }
        return s[a..b];
    }

    /// <summary>
    /// Python's <c>str.lower()</c>: Unicode's full lower-case mapping, which differs from .NET's
    /// invariant one-to-one mapping only for U+0130 (İ → "i̇", two code points).
    /// </summary>
    public static string Lower(string s) => s.Replace("\u0130", "i\u0307", StringComparison.Ordinal).ToLowerInvariant();

    /// <summary>
    /// Lower-casing by .NET's invariant one-to-one mapping, as the VQA-family ports (VQAv2, VizWiz,
    /// TextVQA answer normalisation) have always done; it differs from <see cref="Lower"/> (Python 3's
    /// <c>str.lower</c>) only for U+0130.
    /// </summary>
    public static string LowerInvariant(string s) => s.ToLowerInvariant();

    /// <summary>Python's <c>text[:count]</c>: the first <paramref name="count"/> code points (a surrogate pair is one).</summary>
    public static string Prefix(string text, int count)
    {
        var units = 0;
        for (var points = 0; points < count && units < text.Length; points++)
        {
            units += char.IsHighSurrogate(text[units]) && units + 1 < text.Length && char.IsLowSurrogate(text[units + 1]) ? 2 : 1;
        }
        return text[..units];
    }

    /// <summary>
    /// The lines <c>for line in open(path)</c> yields in Python (universal newlines: "\r\n", "\r"
    /// and "\n" each end a line), without their ends.
    /// </summary>
    public static List<string> Lines(string text)
    {
        var lines = new List<string>();
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] is '\n' or '\r')
            {
                lines.Add(text[start..i]);
                if (text[i] == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                {
                    i++;
                }
                start = i + 1;
            }
        }
        if (start < text.Length)
        {
            lines.Add(text[start..]);
        }
        return lines;
    }

    /// <summary>
    /// Python's <c>int(str)</c>: surrounding whitespace, one sign, decimal digits of any script,
    /// single underscores between digits. Null where Python raises <c>ValueError</c>.
    /// </summary>
    public static BigInteger? Int(string text)
    {
        var s = Strip(text);
        var i = 0;
        var negative = false;
        if (s.Length > 0 && (s[0] == '+' || s[0] == '-'))
        {
            negative = s[0] == '-';
            i = 1;
        }
        var digits = new StringBuilder();
        var lastWasDigit = false;
        for (; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '_' && lastWasDigit && i + 1 < s.Length && CharUnicodeInfo.GetDecimalDigitValue(s[i + 1]) >= 0)
            {
                lastWasDigit = false;
                continue;
            }
            var d = CharUnicodeInfo.GetDecimalDigitValue(c);
            if (d < 0 || char.IsSurrogate(c))
            {
                return null;
            }
            digits.Append((char)('0' + d));
            lastWasDigit = true;
        }
        if (digits.Length == 0)
        {
            return null;
        }
        var value = BigInteger.Parse(digits.ToString(), CultureInfo.InvariantCulture);
        return negative ? -value : value;
    }

    /// <summary>Python 2's <c>round(x, digits)</c>: the exact value rounded to <paramref name="digits"/> decimals, halves away from zero.</summary>
    public static double RoundPython2(double x, int digits) => Round(x, digits, tiesAway: true);

    /// <summary>Python 3's <c>round(x, digits)</c> and <c>format(x, ".Nf")</c>: the exact value rounded, halves to even.</summary>
    public static double RoundPython3(double x, int digits) => Round(x, digits, tiesAway: false);

    private static double Round(double x, int digits, bool tiesAway)
    {
        if (double.IsNaN(x) || double.IsInfinity(x) || x == 0)
        {
            return x;
        }
        ArgumentOutOfRangeException.ThrowIfNegative(digits);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(digits, 15);
        var bits = BitConverter.DoubleToInt64Bits(x);
        var negative = bits < 0;
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
        exponent -= 1075;
        var numerator = new BigInteger(mantissa) * BigInteger.Pow(10, digits);
        var denominator = BigInteger.One;
        if (exponent >= 0)
        {
            numerator <<= exponent;
        }
        else
        {
            denominator <<= -exponent;
        }
        var quotient = BigInteger.DivRem(numerator, denominator, out var remainder);
        var half = (remainder * 2).CompareTo(denominator);
        if (half > 0 || (half == 0 && (tiesAway || !quotient.IsEven)))
        {
            quotient += 1;
        }
        // quotient / 10^digits correctly rounded, as Python's strtod of the rounded decimal string.
        var result = quotient < (BigInteger.One << 53)
            ? (double)quotient / Math.Pow(10, digits)
            : double.Parse(quotient.ToString(CultureInfo.InvariantCulture) + "e-" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        return negative ? -result : result;
    }

    /// <summary>A string as Python's <c>json.dumps</c> writes it by default (<c>ensure_ascii=True</c>: every non-ASCII unit as a lower-case <c>\uXXXX</c>).</summary>
    public static void AppendJsonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < ' ' || c > '~')
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }
                    break;
            }
        }
        sb.Append('"');
    }
}
