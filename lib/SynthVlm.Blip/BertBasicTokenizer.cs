using System.Globalization;
using System.Text;
using SynthVlm.Tokenizers.Unicode;

namespace SynthVlm.Blip;

/// <summary>
/// BERT's BasicTokenizer (google-research/bert tokenization.py; Hugging Face's BertTokenizer and
/// BertNormalizer follow it): drop U+0000, U+FFFD and control/format characters (Cc, Cf — so a
/// zero-width space joins its neighbours), map whitespace (space, tab, CR, LF, Zs) to a space, put
/// spaces around CJK ideographs, split on whitespace, then per word lower-case (Python's
/// <c>str.lower</c>, final sigma included), NFD and drop non-spacing marks (Mn) when lower-casing,
/// and split off every punctuation character — ASCII 33–47, 58–64, 91–96, 123–126 (so "$", "^", "`",
/// "|", "~", "+", "&lt;", "=" count, though Unicode calls them symbols) and every Unicode P* character.
/// Written in-tree because Microsoft.ML.Tokenizers 3.0.0's BertTokenizer differs on real captions:
/// under InvariantGlobalization its accent stripping is a no-op (string.Normalize does nothing),
/// it drops symbols such as emoji and "$" instead of keeping them, and it splits at U+200B.
/// </summary>
internal static class BertBasicTokenizer
{
    /// <summary>The words of <paramref name="text"/>, ready for WordPiece.</summary>
    public static List<string> Tokenize(string text, bool doLowerCase)
    {
        var cleaned = Clean(text);
        var words = new List<string>();
        foreach (var token in cleaned.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            var word = token;
            if (doLowerCase)
            {
                word = StripAccents(Lower(word));
            }
            SplitOnPunctuation(word, words);
        }
        return words;
    }

    private static string Clean(string text)
    {
        var builder = new StringBuilder(text.Length + 8);
        foreach (var rune in text.EnumerateRunes())
        {
            var cp = rune.Value;
            if (cp == 0 || cp == 0xFFFD || IsControl(rune))
            {
                continue;
            }
            if (IsWhitespace(rune))
            {
                builder.Append(' ');
            }
            else if (IsCjk(cp))
            {
                builder.Append(' ').Append(rune.ToString()).Append(' ');
            }
            else
            {
                builder.Append(rune.ToString());
            }
        }
        return builder.ToString();
    }

    private static bool IsWhitespace(Rune rune) =>
        rune.Value is ' ' or '\t' or '\n' or '\r' || Rune.GetUnicodeCategory(rune) == UnicodeCategory.SpaceSeparator;

    private static bool IsControl(Rune rune) =>
        rune.Value is not ('\t' or '\n' or '\r')
        && Rune.GetUnicodeCategory(rune) is UnicodeCategory.Control or UnicodeCategory.Format;

    private static bool IsPunctuation(Rune rune)
    {
        var cp = rune.Value;
        if (cp is (>= 33 and <= 47) or (>= 58 and <= 64) or (>= 91 and <= 96) or (>= 123 and <= 126))
        {
            return true;
        }
        return Rune.GetUnicodeCategory(rune) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>The CJK Unified Ideograph blocks BERT isolates (not Hiragana, Katakana or Hangul).</summary>
    private static bool IsCjk(int cp) =>
        cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF)
            or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF)
            or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);

    /// <summary>
    /// Python's str.lower: invariant lower-casing plus the Final_Sigma rule (Σ at the end of a word
    /// becomes ς), and U+0130 İ to "i" + U+0307 as Python's full case mapping gives (.NET's invariant
    /// casing leaves İ unchanged).
    /// </summary>
    private static string Lower(string word)
    {
        if (word.Contains('\u0130', StringComparison.Ordinal))
        {
            word = word.Replace("\u0130", "i\u0307", StringComparison.Ordinal);
        }
        var lower = word.ToLowerInvariant();
        if (!word.Contains('Σ', StringComparison.Ordinal))
        {
            return lower;
        }
        var chars = lower.ToCharArray();
        for (var i = 0; i < word.Length; i++)
        {
            if (word[i] == 'Σ' && CasedBefore(word, i) && !CasedAfter(word, i))
            {
                chars[i] = 'ς';
            }
        }
        return new string(chars);
    }

    private static bool CasedBefore(string word, int index)
    {
        for (var j = index - 1; j >= 0; j--)
        {
            if (IsCaseIgnorable(word[j]))
            {
                continue;
            }
            return IsCased(word[j]);
        }
        return false;
    }

    private static bool CasedAfter(string word, int index)
    {
        for (var j = index + 1; j < word.Length; j++)
        {
            if (IsCaseIgnorable(word[j]))
            {
                continue;
            }
            return IsCased(word[j]);
        }
        return false;
    }

    private static bool IsCased(char c) =>
        char.GetUnicodeCategory(c) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;

    private static bool IsCaseIgnorable(char c) =>
        c is '\'' or '.' or ':' or '\u00B7' or '\u2019'
        || char.GetUnicodeCategory(c) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark
            or UnicodeCategory.Format or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol;

    private static string StripAccents(string word)
    {
        var nfd = Nfc.Decompose(word);
        var builder = new StringBuilder(nfd.Length);
        foreach (var rune in nfd.EnumerateRunes())
        {
            if (Rune.GetUnicodeCategory(rune) != UnicodeCategory.NonSpacingMark)
            {
                builder.Append(rune.ToString());
            }
        }
        return builder.ToString();
    }

    private static void SplitOnPunctuation(string word, List<string> words)
    {
        var current = new StringBuilder();
        foreach (var rune in word.EnumerateRunes())
        {
            if (IsPunctuation(rune))
            {
                if (current.Length > 0)
                {
                    words.Add(current.ToString());
                    current.Clear();
                }
                words.Add(rune.ToString());
            }
            else
            {
                current.Append(rune.ToString());
            }
        }
        if (current.Length > 0)
        {
            words.Add(current.ToString());
        }
    }
}
