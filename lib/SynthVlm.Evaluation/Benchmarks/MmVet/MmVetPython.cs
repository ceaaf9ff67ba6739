using System.Globalization;
using System.Text;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// Python 3's <c>float(str)</c> and <c>str.strip()</c>/<c>str.isspace()</c>, for official scripts
/// that parse model output with them (MM-Vet's grader score).
/// </summary>
/// <remarks>
/// <c>float(s)</c>: every Unicode whitespace character becomes a space and every Unicode decimal
/// digit (category Nd: fullwidth, Arabic-Indic, mathematical digits…) its ASCII digit; any other
/// non-ASCII character makes the string invalid. Surrounding spaces are ignored, inner ones are
/// not. Underscores are allowed only between two digits and are then dropped. What remains must
/// be <c>[sign] (digits [. [digits]] | . digits) [(e|E) [sign] digits]</c> or, case-insensitively,
/// <c>[sign] (inf | infinity | nan)</c>. The value is the correctly rounded double (as CPython's
/// dtoa and .NET's parser both give).
/// </remarks>
internal static class MmVetPython
{
    /// <summary>Python's <c>str.isspace()</c> for one character: .NET's white space plus U+001C–U+001F (bidi classes B and S).</summary>
    public static bool IsSpace(Rune rune) => rune.Value is >= 0x1C and <= 0x1F || Rune.IsWhiteSpace(rune);

    /// <summary>Python's <c>s.strip()</c> (no argument).</summary>
    public static string Strip(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var start = 0;
        while (start < s.Length && Rune.TryGetRuneAt(s, start, out var r) && IsSpace(r))
        {
            start += r.Utf16SequenceLength;
        }
        var end = s.Length;
        while (end > start)
        {
            var last = char.IsLowSurrogate(s[end - 1]) && end - 2 >= start ? end - 2 : end - 1;
            if (!Rune.TryGetRuneAt(s, last, out var r) || !IsSpace(r))
            {
                break;
            }
            end = last;
        }
        return s[start..end];
    }

    /// <summary>Python's <c>float(s)</c>: false where Python raises <c>ValueError</c>.</summary>
    public static bool TryParse(string s, out double value)
    {
        ArgumentNullException.ThrowIfNull(s);
        value = 0;
        var ascii = new StringBuilder(s.Length);
        foreach (var rune in s.EnumerateRunes())
        {
            if (IsSpace(rune))
            {
                ascii.Append(' ');
            }
            else if (Rune.GetUnicodeCategory(rune) == UnicodeCategory.DecimalDigitNumber)
            {
                ascii.Append((char)('0' + (int)Rune.GetNumericValue(rune)));
            }
            else if (rune.IsAscii)
            {
                ascii.Append((char)rune.Value);
            }
            else
            {
                return false;
            }
        }
        var text = ascii.ToString().Trim(' ');
        if (text.Contains('_', StringComparison.Ordinal))
        {
            for (var i = 0; i < text.Length; i++)
            {
                if (text[i] == '_' && (i == 0 || i == text.Length - 1 || !char.IsAsciiDigit(text[i - 1]) || !char.IsAsciiDigit(text[i + 1])))
                {
                    return false;
                }
            }
            text = text.Replace("_", string.Empty, StringComparison.Ordinal);
        }
        var body = text.Length > 0 && text[0] is '+' or '-' ? text[1..] : text;
        var negative = text.Length > 0 && text[0] == '-';
        if (body.Equals("inf", StringComparison.OrdinalIgnoreCase) || body.Equals("infinity", StringComparison.OrdinalIgnoreCase))
        {
            value = negative ? double.NegativeInfinity : double.PositiveInfinity;
            return true;
        }
        if (body.Equals("nan", StringComparison.OrdinalIgnoreCase))
        {
            value = double.NaN;
            return true;
        }
        if (!IsDecimalLiteral(body))
        {
            return false;
        }
        value = double.Parse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture);
        return true;
    }

    // digits [. [digits]] [exp] | . digits [exp], with exp = (e|E) [sign] digits
    private static bool IsDecimalLiteral(string s)
    {
        var i = 0;
        var intDigits = Digits(s, ref i);
        var fracDigits = 0;
        if (i < s.Length && s[i] == '.')
        {
            i++;
            fracDigits = Digits(s, ref i);
        }
        if (intDigits == 0 && fracDigits == 0)
        {
            return false;
        }
        if (i < s.Length && s[i] is 'e' or 'E')
        {
            i++;
            if (i < s.Length && s[i] is '+' or '-')
            {
                i++;
            }
            if (Digits(s, ref i) == 0)
            {
                return false;
            }
        }
        return i == s.Length;
    }

    private static int Digits(string s, ref int i)
    {
        var start = i;
        while (i < s.Length && char.IsAsciiDigit(s[i]))
        {
            i++;
        }
        return i - start;
    }
}
