using System.Text.RegularExpressions;

namespace SynthVlm.Hallucination.Chair;

/// <summary>
/// <c>nltk.word_tokenize</c> as nltk 3.2.5 defines it (the version the official CHAIR code pins):
/// Punkt sentences (<see cref="PunktSentenceSplitter"/>), each split by the Penn Treebank
/// tokenizer with the three rules word_tokenize adds in front (Unicode opening and closing quotes
/// padded, a final period followed by Unicode closing quotes split off).
/// </summary>
/// <remarks>
/// Quirks kept because CHAIR's counts depend on them: only a sentence's last period is split off,
/// so "dog.the" stays one token and an abbreviation such as "st." keeps its period; a period
/// ends a sentence (and is split off) unless the word before it is in the English Punkt
/// abbreviation list; "'" before a word stays attached ("'walks"). Regular expressions follow
/// Python's: <c>\s</c>, <c>\d</c> and <c>\b</c> are Unicode-aware in both, differing only for
/// the control characters U+001C–U+001F, which Python counts as white space.
/// </remarks>
internal static class TreebankWordTokenizer
{
    private const RegexOptions Options = RegexOptions.CultureInvariant;

    private static readonly (Regex Pattern, string Replacement)[] StartingQuotes =
    [
        (new Regex("([«“‘])", Options), " $1 "),
        (new Regex("^\"", Options), "``"),
        (new Regex("(``)", Options), " $1 "),
        (new Regex("([ (\\[{<])\"", Options), "$1 `` "),
    ];

    private static readonly (Regex Pattern, string Replacement)[] Punctuation =
    [
        (new Regex(@"([^\.])(\.)([\]\)}>""'»”’ ]*)\s*$", Options), "$1 $2 $3 "),
        (new Regex(@"([:,])([^\d])", Options), " $1 $2"),
        (new Regex(@"([:,])$", Options), " $1 "),
        (new Regex(@"\.\.\.", Options), " ... "),
        (new Regex(@"[;@#$%&]", Options), " $0 "),
        (new Regex(@"([^\.])(\.)([\]\)}>""']*)\s*$", Options), "$1 $2$3 "),
        (new Regex(@"[?!]", Options), " $0 "),
        (new Regex(@"([^'])' ", Options), "$1 ' "),
    ];

    private static readonly Regex ParensBrackets = new(@"[\]\[\(\)\{\}\<\>]", Options);
    private static readonly Regex DoubleDashes = new("--", Options);

    private static readonly (Regex Pattern, string Replacement)[] EndingQuotes =
    [
        (new Regex("([»”’])", Options), " $1 "),
        (new Regex("\"", Options), " '' "),
        (new Regex(@"(\S)('')", Options), "$1 $2 "),
        (new Regex(@"([^' ])('[sS]|'[mM]|'[dD]|') ", Options), "$1 $2 "),
        (new Regex(@"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", Options), "$1 $2 "),
    ];

    private static readonly Regex[] Contractions =
    [
        new(@"(?i)\b(can)(not)\b", Options),
        new(@"(?i)\b(d)('ye)\b", Options),
        new(@"(?i)\b(gim)(me)\b", Options),
        new(@"(?i)\b(gon)(na)\b", Options),
        new(@"(?i)\b(got)(ta)\b", Options),
        new(@"(?i)\b(lem)(me)\b", Options),
        new(@"(?i)\b(mor)('n)\b", Options),
        new(@"(?i)\b(wan)(na)\s", Options),
        new(@"(?i) ('t)(is)\b", Options),
        new(@"(?i) ('t)(was)\b", Options),
    ];

    /// <summary>The tokens of <paramref name="text"/> (nltk 3.2.5 <c>word_tokenize</c>).</summary>
    public static List<string> WordTokenize(string text)
    {
        var tokens = new List<string>();
        foreach (var sentence in PunktSentenceSplitter.Split(text))
        {
            tokens.AddRange(Tokenize(sentence));
        }
        return tokens;
    }

    /// <summary>The Treebank tokens of one sentence.</summary>
    public static string[] Tokenize(string text)
    {
        foreach (var (pattern, replacement) in StartingQuotes)
        {
            text = pattern.Replace(text, replacement);
        }
        foreach (var (pattern, replacement) in Punctuation)
        {
            text = pattern.Replace(text, replacement);
        }
        text = ParensBrackets.Replace(text, " $0 ");
        text = DoubleDashes.Replace(text, " -- ");
        text = " " + text + " ";
        foreach (var (pattern, replacement) in EndingQuotes)
        {
            text = pattern.Replace(text, replacement);
        }
        foreach (var pattern in Contractions)
        {
            text = pattern.Replace(text, " $1 $2 ");
        }
        return text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
    }
}
