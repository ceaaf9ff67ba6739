using System.Globalization;
using System.Numerics;
using System.Text;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// The Python string and number operations the official evaluation scripts' parsing and scoring
/// depend on, with Python's semantics: whitespace as <c>str.isspace</c> sees it (.NET's whitespace
/// plus U+001C..U+001F), <c>split()</c> and <c>strip()</c> without arguments, <c>str.lower</c>,
/// lengths and slicing by code point, <c>int(str)</c>, <c>str(float)</c>, universal-newline lines, <c>round(x, n)</c> (Python 2 ties
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
    /// Python's <c>str.lower()</c> without its final-sigma rule: .NET's invariant mapping plus U+0130 (İ → "i̇",
    /// two code points); a capital sigma at a word end becomes σ here where Python gives ς. What POPE's
    /// lmms-eval variant and MME have always used; <see cref="Lower"/> is the exact one.
    /// </summary>
    public static string LowerWithoutFinalSigma(string s) => s.Replace("\u0130", "i\u0307", StringComparison.Ordinal).ToLowerInvariant();

    /// <summary>
    /// Python's <c>str.lower()</c>: the simple lower-case mapping, plus the two context rules
    /// Python applies that .NET's does not (U+0130 becomes "i̇", and capital sigma at the end of
    /// a word becomes final sigma).
    /// </summary>
    public static string Lower(string text)
    {
        var builder = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\u0130')
            {
                builder.Append("i\u0307");
            }
            else if (c == '\u03a3')
            {
                builder.Append(IsFinalSigma(text, i) ? '\u03c2' : '\u03c3');
            }
            else if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                builder.Append(text.AsSpan(i, 2).ToString().ToLowerInvariant());
                i++;
            }
            else
            {
                builder.Append(char.ToLowerInvariant(c));
            }
        }
        return builder.ToString();
    }

    /// <summary>Python's <c>len()</c>: code points, a surrogate pair counting once.</summary>
    public static int Length(string text)
    {
        var n = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            n++;
        }
        return n;
    }

    /// <summary>
    /// Lower-casing by .NET's invariant one-to-one mapping, as the VQA-family ports (VQAv2, VizWiz,
    /// TextVQA answer normalisation) have always done; it differs from <see cref="Lower"/> (Python 3's
    /// <c>str.lower</c>) only for U+0130 and a word-final capital sigma.
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

    /// <summary>Python's <c>str(x)</c> of a float that pandas parsed (shortest round-trip digits, Python's exponent rules).</summary>
    public static string FloatText(double value)
    {
        if (double.IsNaN(value))
        {
            return "nan";
        }
        if (double.IsInfinity(value))
        {
            return value > 0 ? "inf" : "-inf";
        }
        if (value == 0)
        {
            return double.IsNegative(value) ? "-0.0" : "0.0";
        }
        // "E16" style digits: shortest round-trip mantissa and the decimal exponent.
        var shortest = value.ToString("R", CultureInfo.InvariantCulture);
        var negative = value < 0;
        var digits = new StringBuilder();
        int exponent;
        var ePos = shortest.IndexOfAny(['E', 'e']);
        var mantissa = ePos >= 0 ? shortest[..ePos] : shortest;
        var exp = ePos >= 0 ? int.Parse(shortest[(ePos + 1)..], CultureInfo.InvariantCulture) : 0;
        mantissa = mantissa.TrimStart('-');
        var dot = mantissa.IndexOf('.', StringComparison.Ordinal);
        var intPart = dot >= 0 ? mantissa[..dot] : mantissa;
        var fracPart = dot >= 0 ? mantissa[(dot + 1)..] : "";
        var all = (intPart + fracPart).TrimStart('0');
        var leadingZeros = (intPart + fracPart).Length - all.Length;
        digits.Append(all.TrimEnd('0'));
        // position of the decimal point relative to the first significant digit
        exponent = intPart.Length - leadingZeros - 1 + exp;
        var d = digits.ToString();
        if (d.Length == 0)
        {
            d = "0";
        }
        string body;
        if (exponent < -4 || exponent >= 16)
        {
            var m = d.Length == 1 ? d : d[..1] + "." + d[1..];
            body = m + "e" + (exponent < 0 ? "-" : "+") + Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture);
        }
        else if (exponent < 0)
        {
            body = "0." + new string('0', -exponent - 1) + d;
        }
        else if (d.Length <= exponent + 1)
        {
            body = d + new string('0', exponent + 1 - d.Length) + ".0";
        }
        else
        {
            body = d[..(exponent + 1)] + "." + d[(exponent + 1)..];
        }
        return negative ? "-" + body : body;
    }

    private static bool IsFinalSigma(string text, int index)
    {
        // Unicode Final_Sigma: preceded by a cased letter (skipping case-ignorable), not followed by one.
        var before = false;
        for (var j = index - 1; j >= 0; j--)
        {
            if (IsCaseIgnorable(text[j]))
            {
                continue;
            }
            before = IsCased(text[j]);
            break;
        }
        if (!before)
        {
            return false;
        }
        for (var j = index + 1; j < text.Length; j++)
        {
            if (IsCaseIgnorable(text[j]))
            {
                continue;
            }
            return !IsCased(text[j]);
        }
        return true;
    }

    private static bool IsCased(char c) => char.IsLetter(c) && (char.IsUpper(c) || char.IsLower(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.TitlecaseLetter);

    private static bool IsCaseIgnorable(char c) => c is '\'' or '.' or ':' or '^' or '`' or '\u00ad' or '\u2019' ||
        CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol;
}
