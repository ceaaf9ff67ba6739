using System.Text.RegularExpressions;

namespace SynthVlm.Hallucination.Chair;

/// <summary>
/// <c>pattern.en.singularize</c> (pattern 3.6, pattern/text/en/inflect.py, whose rules are adapted
/// from Bermi Ferrer's Inflector), the singulariser the official CHAIR code applies to every token.
/// Written from its definition: compound words with a preposition recurse on the head; a trailing
/// apostrophe becomes "'s"; words that are the end of an uninflected or uncountable word are kept;
/// "-ie" plurals are kept; irregular plurals; then the first matching suffix rule.
/// </summary>
/// <remarks>
/// Its quirks are part of CHAIR's definition and are kept: the uninflected/uncountable test is
/// "the word is a suffix of a listed word", so "s" stays "s"; singular words ending in s lose it
/// ("bus" → "bu", "glass" → "glas", "tennis" → "tenni" — hence CHAIR's "wine glas" rule and why a
/// singular "bus" is never counted); "-ie" plurals stay plural ("cookies"); the rules "[octop|vir]i"
/// and "[m|l]ice" are character classes ("police" → "polouse"); "'s" → "'" and "'" → "'s".
/// </remarks>
internal static class PatternSingularizer
{
    private const RegexOptions Options = RegexOptions.CultureInvariant;

    private static readonly (Regex Suffix, string Inflection)[] Rules =
    [
        (Rule(@"(?i)(.)ae$"), "${1}a"),
        (Rule(@"(?i)(.)itis$"), "${1}itis"),
        (Rule(@"(?i)(.)eaux$"), "${1}eau"),
        (Rule(@"(?i)(quiz)zes$"), "${1}"),
        (Rule(@"(?i)(matr)ices$"), "${1}ix"),
        (Rule(@"(?i)(ap|vert|ind)ices$"), "${1}ex"),
        (Rule(@"(?i)^(ox)en"), "${1}"),
        (Rule(@"(?i)(alias|status)es$"), "${1}"),
        (Rule(@"(?i)([octop|vir])i$"), "${1}us"),
        (Rule(@"(?i)(cris|ax|test)es$"), "${1}is"),
        (Rule(@"(?i)(shoe)s$"), "${1}"),
        (Rule(@"(?i)(o)es$"), "${1}"),
        (Rule(@"(?i)(bus)es$"), "${1}"),
        (Rule(@"(?i)([m|l])ice$"), "${1}ouse"),
        (Rule(@"(?i)(x|ch|ss|sh)es$"), "${1}"),
        (Rule(@"(?i)(m)ovies$"), "${1}ovie"),
        (Rule(@"(?i)(.)ombies$"), "${1}ombie"),
        (Rule(@"(?i)(s)eries$"), "${1}eries"),
        (Rule(@"(?i)([^aeiouy]|qu)ies$"), "${1}y"),
        (Rule(@"([aeo]l)ves$"), "${1}f"),
        (Rule(@"([^d]ea)ves$"), "${1}f"),
        (Rule(@"arves$"), "arf"),
        (Rule(@"erves$"), "erve"),
        (Rule(@"([nlw]i)ves$"), "${1}fe"),
        (Rule(@"(?i)([lr])ves$"), "${1}f"),
        (Rule(@"([aeo])ves$"), "${1}ve"),
        (Rule(@"(?i)(sive)s$"), "${1}"),
        (Rule(@"(?i)(tive)s$"), "${1}"),
        (Rule(@"(?i)(hive)s$"), "${1}"),
        (Rule(@"(?i)([^f])ves$"), "${1}fe"),
        (Rule(@"(?i)(^analy)ses$"), "${1}sis"),
        // Unmatched groups become "" (pattern removes their \N from the inflection), so
        // "psychoanalyses" → "psychoanalyasis" as in pattern.
        (Rule(@"(?i)((a)naly|(b)a|(d)iagno|(p)arenthe|(p)rogno|(s)ynop|(t)he)ses$"), "${1}${2}sis"),
        (Rule(@"(?i)(.)opses$"), "${1}opsis"),
        (Rule(@"(?i)(.)yses$"), "${1}ysis"),
        (Rule(@"(?i)(h|d|r|o|n|b|cl|p)oses$"), "${1}ose"),
        (Rule(@"(?i)(fruct|gluc|galact|lact|ket|malt|rib|sacchar|cellul)ose$"), "${1}ose"),
        (Rule(@"(?i)(.)oses$"), "${1}osis"),
        (Rule(@"(?i)([ti])a$"), "${1}um"),
        (Rule(@"(?i)(n)ews$"), "${1}ews"),
        (Rule(@"(?i)s$"), ""),
    ];

    private static readonly string[] Uninflected =
    [
        "bison", "debris", "headquarters", "pincers", "trout", "bream", "diabetes", "herpes", "pliers", "tuna",
        "breeches", "djinn", "high-jinks", "proceedings", "whiting", "britches", "eland", "homework", "rabies",
        "wildebeest", "carp", "elk", "innings", "salmon", "chassis", "flounder", "jackanapes", "scissors",
        "christmas", "gallows", "mackerel", "series", "clippers", "georgia", "measles", "shears", "cod",
        "graffiti", "mews", "species", "contretemps", "mumps", "swine", "corps", "news", "swiss",
    ];

    private static readonly string[] Uncountable =
    [
        "advice", "equipment", "happiness", "luggage", "news", "software", "bread", "fruit", "information",
        "mathematics", "progress", "understanding", "butter", "furniture", "ketchup", "mayonnaise", "research",
        "water", "cheese", "garbage", "knowledge", "meat", "rice", "electricity", "gravel", "love", "mustard", "sand",
    ];

    // "^pie" and "^tie" are literal in pattern's list (a caret never ends a word), so they never match.
    private static readonly string[] IePlurals =
    [
        "alergie", "cutie", "hoagie", "newbie", "softie", "veggie", "auntie", "doggie", "hottie", "nightie",
        "sortie", "weenie", "beanie", "eyrie", "indie", "oldie", "stoolie", "yuppie", "birdie", "freebie",
        "junkie", "^pie", "sweetie", "zombie", "bogie", "goonie", "laddie", "pixie", "techie", "bombie",
        "groupie", "laramie", "quickie", "^tie", "collie", "hankie", "lingerie", "reverie", "toughie",
        "cookie", "hippie", "meanie", "rookie", "valkyrie",
    ];

    // No key is a suffix of another, so the order pattern iterates them in does not matter.
    private static readonly (string Plural, string Singular)[] Irregular =
    [
        ("atlantes", "atlas"), ("atlases", "atlas"), ("axes", "axe"), ("beeves", "beef"), ("brethren", "brother"),
        ("children", "child"), ("corpora", "corpus"), ("corpuses", "corpus"), ("ephemerides", "ephemeris"),
        ("feet", "foot"), ("ganglia", "ganglion"), ("geese", "goose"), ("genera", "genus"), ("genii", "genie"),
        ("graffiti", "graffito"), ("helves", "helve"), ("kine", "cow"), ("leaves", "leaf"), ("loaves", "loaf"),
        ("men", "man"), ("mongooses", "mongoose"), ("monies", "money"), ("moves", "move"), ("mythoi", "mythos"),
        ("numena", "numen"), ("occipita", "occiput"), ("octopodes", "octopus"), ("opera", "opus"),
        ("opuses", "opus"), ("our", "my"), ("oxen", "ox"), ("penes", "penis"), ("penises", "penis"),
        ("people", "person"), ("sexes", "sex"), ("soliloquies", "soliloquy"), ("teeth", "tooth"),
        ("testes", "testis"), ("trilbys", "trilby"), ("turves", "turf"), ("zoa", "zoon"),
    ];

    private static readonly HashSet<string> PluralPrepositions = new(StringComparer.Ordinal)
    {
        "about", "before", "during", "of", "till", "above", "behind", "except", "off", "to", "across", "below",
        "for", "on", "under", "after", "beneath", "from", "onto", "until", "among", "beside", "in", "out", "unto",
        "around", "besides", "into", "over", "upon", "at", "between", "near", "since", "with", "athwart",
        "betwixt", "beyond", "but", "by",
    };

    private static readonly Dictionary<string, Regex> IrregularPatterns = Irregular.ToDictionary(
        p => p.Plural, p => new Regex("(?i)" + p.Plural + "$", Options), StringComparer.Ordinal);

    private static Regex Rule(string pattern) => new(pattern, Options);

    /// <summary>The singular of <paramref name="word"/> as pattern.en.singularize gives it (noun).</summary>
    public static string Singularize(string word)
    {
        if (word.Contains('-', StringComparison.Ordinal))
        {
            var parts = word.Split('-');
            if (parts.Length > 1 && PluralPrepositions.Contains(parts[1]))
            {
                return Singularize(parts[0]) + "-" + string.Join('-', parts.Skip(1));
            }
        }
        if (word.EndsWith('\''))
        {
            return Singularize(word[..^1]) + "'s";
        }
        var w = word.ToLowerInvariant();
        foreach (var x in Uninflected)
        {
            if (x.EndsWith(w, StringComparison.Ordinal))
            {
                return word;
            }
        }
        foreach (var x in Uncountable)
        {
            if (x.EndsWith(w, StringComparison.Ordinal))
            {
                return word;
            }
        }
        foreach (var x in IePlurals)
        {
            if (w.EndsWith(x + "s", StringComparison.Ordinal))
            {
                return w;
            }
        }
        foreach (var (plural, singular) in Irregular)
        {
            if (w.EndsWith(plural, StringComparison.Ordinal))
            {
                return IrregularPatterns[plural].Replace(word, singular);
            }
        }
        foreach (var (suffix, inflection) in Rules)
        {
            if (suffix.IsMatch(word))
            {
                return suffix.Replace(word, inflection);
            }
        }
        return word;
    }
}
