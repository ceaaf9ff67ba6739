using System.Globalization;
using System.Text;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// The few Python and pandas string semantics that the official multiple-choice scripts
/// (VLMEvalKit's answer matching, hendrycks/test's prompts) depend on, so that the C# reading
/// of the same text gives the same answer: Python's whitespace (<c>str.split()</c> splits on
/// the 0x1C–0x1F separators too, which .NET's <c>\s</c> does not), <c>str.lower()</c>'s full
/// mapping (İ becomes two characters, Σ at a word end becomes ς), lengths in code points, the
/// cells pandas reads as missing, and <c>str(float)</c>.
/// </summary>
internal static class MultipleChoicePython
{
    /// <summary>
    /// The strings pandas' <c>read_csv</c>/<c>read_excel</c> read as NaN by default, as pandas 1.5 (the reference
    /// runs' pandas, Debian 12's) has them. pandas 2.0 added "None" to the list: with it, an option or a
    /// prediction that is exactly "None" would read as missing too.
    /// </summary>
    public static readonly IReadOnlySet<string> PandasNaStrings = new HashSet<string>(StringComparer.Ordinal)
    {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
        "<NA>", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
    };

    /// <summary>Python's <c>str.isspace()</c> for one character.</summary>
    public static bool IsSpace(char c) => c switch
    {
        >= '\t' and <= '\r' => true,
        >= '\x1c' and <= '\x1f' => true,
        ' ' or '\x85' or '\xa0' or '\u1680' or '\u2028' or '\u2029' or '\u202f' or '\u205f' or '\u3000' => true,
        >= '\u2000' and <= '\u200a' => true,
        _ => false,
    };

    /// <summary>Python's <c>str.split()</c> without arguments: runs of whitespace separate, no empty parts.</summary>
    public static List<string> Split(string text)
    {
        var parts = new List<string>();
        var start = -1;
        for (var i = 0; i <= text.Length; i++)
        {
            var space = i == text.Length || IsSpace(text[i]);
            if (space && start >= 0)
            {
                parts.Add(text[start..i]);
                start = -1;
            }
            else if (!space && start < 0)
            {
                start = i;
            }
        }
        return parts;
    }

    /// <summary>Python's <c>str.strip()</c> without arguments.</summary>
    public static string Strip(string text)
    {
        var start = 0;
        var end = text.Length;
        while (start < end && IsSpace(text[start]))
        {
            start++;
        }
        while (end > start && IsSpace(text[end - 1]))
        {
            end--;
        }
        return text[start..end];
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
