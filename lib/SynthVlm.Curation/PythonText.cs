using System.Globalization;
using System.Reflection;
using System.Text;

namespace SynthVlm.Curation;

/// <summary>
/// Python <c>str</c> semantics over .NET strings: text is a sequence of code points (a lone
/// surrogate reads as U+FFFD, as it would after Python decoded the UTF-8 with errors='replace'),
/// and the character classes Data-Juicer's filters ask about are answered from one table.
/// </summary>
/// <remarks>
/// Categories come from .NET's Unicode tables, which may be a newer Unicode version than the
/// Python that runs Data-Juicer; characters assigned in between are the only ones that can differ.
/// </remarks>
internal static class PythonText
{
    /// <summary>One past the last code point.</summary>
    public const int CodePointLimit = 0x110000;

    private const byte AlnumFlag = 1;
    private const byte SpecialFlag = 2;
    private const byte CasedFlag = 4;
    private const byte CaseIgnorableFlag = 8;
    private const byte SpaceFlag = 16;

    private const int CapitalSigma = 0x03A3;
    private const int SmallSigma = 0x03C3;
    private const int FinalSigma = 0x03C2;
    private const int CapitalIWithDot = 0x0130;
    private const int CombiningDotAbove = 0x0307;

    /// <summary>
    /// Data-Juicer's OTHER_SPECIAL_CHARACTERS (data_juicer/ops/common/special_characters.py), as
    /// distinct code points written out: the source spells several of them as invisible characters.
    /// </summary>
    internal const string OtherSpecialCharacters =
        "\u0020\u0081\u0082\u0083\u0084\u0085\u0091\u0092\u0093\u0095\u0096\u0097\u0098\u0099\u009C\u009D" +
        "\u00A1\u00A2\u00A3\u00A4\u00A5\u00A6\u00A7\u00A8\u00A9\u00AA\u00AB\u00AD\u00AE\u00AF\u00B0\u00B1" +
        "\u00B2\u00B3\u00B4\u00B7\u00B8\u00B9\u00BA\u00BB\u00BC\u00BD\u00BE\u00BF\u00D7\u00F7\u00F8\u0131" +
        "\u026A\u02BA\u02BB\u02BC\u02C8\u02CC\u02D0\u02D8\u02DA\u02DC\u03C0\u0413\u060C\u0647\u066A\u066C" +
        "\u06E9\u093E\u0940\u0947\u094D\u097D\u09BE\u0E51\u2002\u2003\u2005\u2008\u2009\u200A\u200B\u2010" +
        "\u2011\u2013\u2014\u2015\u2016\u2018\u2019\u201A\u201C\u201D\u201E\u201F\u2020\u2022\u2024\u2026" +
        "\u202F\u2030\u2032\u2033\u2039\u203A\u203F\u2043\u2044\u20A8\u20AA\u20AC\u2103\u2122\u2190\u2191" +
        "\u2192\u2193\u21D3\u2206\u2208\u2212\u221A\u221E\u221F\u223C\u2248\u2256\u2264\u2265\u2295\u22C5" +
        "\u2550\u25A0\u25AC\u25B2\u25B4\u25B7\u25BA\u25BB\u25BC\u25C6\u25CF\u25E6\u2605\u2606\u261B\u263B" +
        "\u2661\u2665\u266B\u2713\u2726\u2731\u2756\u27A4\u27A9\u2800\u3000\u3001\u3002\u300A\u300B\u300C" +
        "\u300D\u3010\u3011\u309C\u30B7\u30C3\u30C4\u30F3\u30FB\u30FC\u4E00\u4E0A\u58EB\uFD3E\uFD3F\uFEFF" +
        "\uFF01\uFF08\uFF09\uFF0C\uFF0E\uFF11\uFF1A\uFF1B\uFF1F\uFF3E\uFF5E\uFFFC\uFFFD";

    /// <summary>Python's string.punctuation + string.digits + string.whitespace.</summary>
    internal const string MainSpecialCharacters =
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~" + "0123456789" + " \t\n\r\u000B\u000C";

    private const string EmojiResource = "SynthVlm.Curation.Data.emoji_single_codepoints.txt";

    // Word_Break MidLetter, MidNumLet and Single_Quote: the part of Case_Ignorable that no
    // general category implies (Unicode DerivedCoreProperties.txt).
    private const string CaseIgnorablePunctuation =
        "'.:\u00B7\u0387\u055F\u05F4\u2018\u2019\u2024\u2027\uFE13\uFE52\uFE55\uFF07\uFF0E\uFF1A";

    // Other_Lowercase / Other_Uppercase characters that have no case mapping and are not Lm (Lm is
    // case-ignorable, which the sigma rule checks first): ª, º and the squared, negative circled and
    // negative squared Latin capitals. Found by probing Python's lower() over all code points.
    private static readonly (int First, int Last)[] CasedWithoutMapping =
        [(0x00AA, 0x00AA), (0x00BA, 0x00BA), (0x1F130, 0x1F149), (0x1F150, 0x1F169), (0x1F170, 0x1F189)];

    // One byte per code point (1.1 MB): a caption walks it once per character, and a table is
    // both the fastest lookup and the only way to keep every class on one definition.
    private static readonly byte[] Flags = BuildFlags();

    /// <summary>The number of single-code-point emoji loaded from the embedded emoji 2.2.0 list.</summary>
    internal static int EmojiCount { get; private set; }

    /// <summary>
    /// Writes the code points of <paramref name="text"/> to <paramref name="destination"/> (at least
    /// <c>text.Length</c> long) and returns how many; <paramref name="replaced"/> counts lone surrogates.
    /// </summary>
    public static int Decode(ReadOnlySpan<char> text, Span<int> destination, out int replaced)
    {
        var count = 0;
        replaced = 0;
        for (var i = 0; i < text.Length; i++)
        {
            int c = text[i];
            if ((uint)(c - 0xD800) <= 0x7FF)
            {
                if (c <= 0xDBFF && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    c = char.ConvertToUtf32((char)c, text[++i]);
                }
                else
                {
                    c = 0xFFFD;
                    replaced++;
                }
            }
            destination[count++] = c;
        }
        return count;
    }

    /// <summary>Python's <c>str.isalnum</c> for one code point.</summary>
    public static bool IsAlnum(int codePoint) => (Flags[codePoint] & AlnumFlag) != 0;

    /// <summary>Membership in Data-Juicer's SPECIAL_CHARACTERS.</summary>
    public static bool IsSpecial(int codePoint) => (Flags[codePoint] & SpecialFlag) != 0;

    /// <summary>Python's <c>str.isspace</c> for one code point.</summary>
    public static bool IsSpace(int codePoint) => (Flags[codePoint] & SpaceFlag) != 0;

    /// <summary>
    /// Python's <c>str.lower()</c> of <paramref name="word"/>, appended at <paramref name="destination"/>
    /// (room for <c>2 * word.Length</c>); returns the number written. Full case mapping: U+0130
    /// becomes two code points and capital sigma takes its final form where Python's does.
    /// </summary>
    public static int Lower(ReadOnlySpan<int> word, Span<int> destination)
    {
        var written = 0;
        for (var i = 0; i < word.Length; i++)
        {
            var c = word[i];
            if (c < 0x80)
            {
                destination[written++] = (uint)(c - 'A') <= 'Z' - 'A' ? c + 32 : c;
            }
            else if (c == CapitalIWithDot)
            {
                destination[written++] = 'i';
                destination[written++] = CombiningDotAbove;
            }
            else if (c == CapitalSigma)
            {
                destination[written++] = IsFinalSigma(word, i) ? FinalSigma : SmallSigma;
            }
            else if ((uint)(c - 0xD800) <= 0x7FF)
            {
                destination[written++] = c;
            }
            else
            {
                destination[written++] = Rune.ToLowerInvariant(new Rune(c)).Value;
            }
        }
        return written;
    }

    // CPython's handle_capital_sigma: \p{cased}\p{case-ignorable}* Σ !(\p{case-ignorable}* \p{cased}).
    private static bool IsFinalSigma(ReadOnlySpan<int> word, int index)
    {
        var j = index - 1;
        while (j >= 0 && (Flags[word[j]] & CaseIgnorableFlag) != 0)
        {
            j--;
        }
        if (j < 0 || (Flags[word[j]] & CasedFlag) == 0)
        {
            return false;
        }
        j = index + 1;
        while (j < word.Length && (Flags[word[j]] & CaseIgnorableFlag) != 0)
        {
            j++;
        }
        return j == word.Length || (Flags[word[j]] & CasedFlag) == 0;
    }

    private static byte[] BuildFlags()
    {
        var flags = new byte[CodePointLimit];
        for (var cp = 0; cp < CodePointLimit; cp++)
        {
            if ((uint)(cp - 0xD800) <= 0x7FF)
            {
                continue;
            }
            var category = CharUnicodeInfo.GetUnicodeCategory(cp);
            byte f = 0;
            var isLetter = category is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
                or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter;
            // Python: isalnum = isalpha (categories L*) or isdecimal or isdigit or isnumeric (any Numeric_Type).
            if (isLetter || (category is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber
                or UnicodeCategory.OtherNumber && Rune.GetNumericValue(new Rune(cp)) != -1))
            {
                f |= AlnumFlag;
            }
            // Python's isspace: general category Zs or bidirectional class WS, B or S.
            if (category == UnicodeCategory.SpaceSeparator || cp is >= 0x09 and <= 0x0D or >= 0x1C and <= 0x1F
                or 0x85 or 0x2028 or 0x2029)
            {
                f |= SpaceFlag;
            }
            var rune = new Rune(cp);
            if (category is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                || Rune.ToLowerInvariant(rune) != rune || Rune.ToUpperInvariant(rune) != rune)
            {
                f |= CasedFlag;
            }
            if (category is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
                or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol)
            {
                f |= CaseIgnorableFlag;
            }
            flags[cp] = f;
        }
        foreach (var (first, last) in CasedWithoutMapping)
        {
            for (var cp = first; cp <= last; cp++)
            {
                flags[cp] |= CasedFlag;
            }
        }
        foreach (var c in CaseIgnorablePunctuation)
        {
            flags[c] |= CaseIgnorableFlag;
        }
        foreach (var c in MainSpecialCharacters)
        {
            flags[c] |= SpecialFlag;
        }
        foreach (var c in OtherSpecialCharacters)
        {
            flags[c] |= SpecialFlag;
        }
        var emoji = 0;
        foreach (var cp in ReadEmoji())
        {
            flags[cp] |= SpecialFlag;
            emoji++;
        }
        EmojiCount = emoji;
        return flags;
    }

    private static List<int> ReadEmoji()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(EmojiResource)
            ?? throw new InvalidOperationException($"Embedded resource {EmojiResource} is missing from {typeof(PythonText).Assembly.FullName}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var list = new List<int>(1400);
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            if (!int.TryParse(line, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var cp)
                || cp is < 0 or >= CodePointLimit)
            {
                throw new InvalidDataException($"{EmojiResource} line {lineNumber}: expected a hex code point, found '{line}'.");
            }
            list.Add(cp);
        }
        return list;
    }
}
