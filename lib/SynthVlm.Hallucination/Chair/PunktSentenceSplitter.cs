using System.Reflection;
using System.Text.RegularExpressions;

namespace SynthVlm.Hallucination.Chair;

/// <summary>
/// The sentence splitter inside <c>nltk.word_tokenize</c> (nltk 3.2.5): Punkt
/// (<c>PunktSentenceTokenizer.tokenize</c> with boundary realignment) with nltk's English model.
/// Written from nltk/tokenize/punkt.py's definitions: candidate contexts are found with the
/// period-context expression, each is split into Punkt word tokens, annotated in two passes
/// (type-based: sentence-end characters, ellipses, known abbreviations; token-based: known
/// collocations, initials and numbers, the orthographic heuristic), and a context containing a
/// sentence break ends a sentence; closing quotes and brackets after a break are moved back.
/// </summary>
/// <remarks>
/// The model's abbreviation types, collocations and sentence starters are embedded (punkt-english.txt), and
/// of its orthographic-context table (ortho_context.tab) the part that decides anything for lower-case text
/// (punkt-english-ortho.txt, derived by make_punkt_ortho.py). CHAIR lowercases captions before tokenising,
/// and the table is read only by the orthographic heuristic, about the token after a period-final word:
/// for a token starting lower-case it answers "not a sentence starter" unless its type was seen lower-case
/// at a sentence start and never upper-case ("administrators", "b-week", "r-revised", "z-holiday" in the
/// English model), where it answers "unknown". That answer matters only after a single-letter initial
/// ("b.") or a number ("2."): the first-pass sentence break then stands ("a 2. administrators" is two
/// sentences, so "2" and "." become separate words), where any other lower-case word would cancel it. After
/// an abbreviation the heuristic never breaks a sentence for a lower-case word, with or without the table.
/// Quirk of scope: for a token starting with an upper-case letter the heuristic would need the full table
/// (seen lower-case, seen upper-case mid-sentence), which is not embedded; such a token is judged as an
/// unseen type, as with an empty table. CHAIR never passes one (it lowercases first).
/// </remarks>
internal static class PunktSentenceSplitter
{
    private const string NonWord = @"(?:[?!)"";}\]\*:@'\({\[])";
    private const string MultiChar = @"(?:\-{2,}|\.{2,}|(?:\.\s){2,}\.)";
    private const string WordStart = @"[^\(""`{\[:;&\#\*@\)}\]\-,]";
    private const string NumberType = "##number##";

    private static readonly Regex PeriodContext = new(
        @"\S*[\.\?!](?=(?<after_tok>" + NonWord + @"|\s+(?<next_tok>\S+)))", RegexOptions.CultureInvariant);

    private static readonly Regex WordTokenizer = new(
        MultiChar + "|(?=" + WordStart + @")\S+?(?=\s|$|" + NonWord + "|" + MultiChar + "|,(?=$|\\s|" + NonWord + "|" + MultiChar + "))|\\S",
        RegexOptions.CultureInvariant);

    private static readonly Regex BoundaryRealignment = new(@"\A[""')\]}]+?(?:\s+|(?=--)|$)", RegexOptions.Multiline | RegexOptions.CultureInvariant);
    private static readonly Regex Numeric = new(@"^-?[\.,]?\d[\d,\.-]*\.?$", RegexOptions.CultureInvariant);
    private static readonly Regex Ellipsis = new(@"\A\.\.+$", RegexOptions.CultureInvariant);
    private static readonly Regex Initial = new(@"\A[^\W\d]\.$", RegexOptions.CultureInvariant);

    private static readonly (HashSet<string> Abbreviations, HashSet<(string, string)> Collocations, HashSet<string> SentenceStarters) Model = LoadModel();

    /// <summary>The types for which the orthographic heuristic answers "unknown" about a lower-case token.</summary>
    private static readonly HashSet<string> LowercaseUnknownTypes = LoadOrthographicContext();

    /// <summary>The sentences of <paramref name="text"/>, as substrings (Punkt's <c>tokenize</c>).</summary>
    public static List<string> Split(string text)
    {
        var sentences = new List<string>();
        foreach (var (start, stop) in Realign(text, Slices(text)))
        {
            sentences.Add(text[start..stop]);
        }
        return sentences;
    }

    private static List<(int Start, int Stop)> Slices(string text)
    {
        var slices = new List<(int, int)>();
        var lastBreak = 0;
        foreach (Match match in PeriodContext.Matches(text))
        {
            var context = match.Value + match.Groups["after_tok"].Value;
            if (ContainsSentenceBreak(context))
            {
                slices.Add((lastBreak, match.Index + match.Length));
                var next = match.Groups["next_tok"];
                lastBreak = next.Success && next.Length > 0 ? next.Index : match.Index + match.Length;
            }
        }
        slices.Add((lastBreak, text.TrimEnd().Length));
        return slices;
    }

    /// <summary>Python's <c>text[a:b]</c> as bounds: empty when the start passes the stop.</summary>
    private static bool IsEmpty(int start, int stop) => stop <= start;

    private static IEnumerable<(int Start, int Stop)> Realign(string text, List<(int Start, int Stop)> slices)
    {
        var realign = 0;
        for (var i = 0; i < slices.Count; i++)
        {
            var first = (Start: slices[i].Start + realign, slices[i].Stop);
            if (i + 1 == slices.Count)
            {
                if (!IsEmpty(first.Start, first.Stop))
                {
                    yield return first;
                }
                continue;
            }
            var second = slices[i + 1];
            var secondText = IsEmpty(second.Start, second.Stop) ? string.Empty : text[second.Start..second.Stop];
            var m = BoundaryRealignment.Match(secondText);
            if (m.Success)
            {
                yield return (first.Start, second.Start + m.Value.TrimEnd().Length);
                realign = m.Index + m.Length;
            }
            else
            {
                realign = 0;
                if (!IsEmpty(first.Start, first.Stop))
                {
                    yield return first;
                }
            }
        }
    }

    private sealed class Token(string text)
    {
        public string Text { get; } = text;
        public string Type { get; } = Numeric.IsMatch(text.ToLowerInvariant()) ? NumberType : text.ToLowerInvariant();
        public bool PeriodFinal => Text.EndsWith('.');
        public bool SentenceBreak { get; set; }
        public bool Abbreviation { get; set; }
        public bool IsEllipsis { get; set; }
        public string TypeNoPeriod => Type.Length > 1 && Type[^1] == '.' ? Type[..^1] : Type;
        public string TypeNoSentencePeriod => SentenceBreak ? TypeNoPeriod : Type;
        public bool FirstUpper => char.IsUpper(Text[0]);
        public bool FirstLower => char.IsLower(Text[0]);
        public bool IsInitial => Initial.IsMatch(Text);
    }

    private static bool ContainsSentenceBreak(string context)
    {
        var tokens = new List<Token>();
        foreach (var line in context.Split('\n'))
        {
            if (line.Trim().Length == 0)
            {
                continue;
            }
            foreach (Match m in WordTokenizer.Matches(line))
            {
                tokens.Add(new Token(m.Value));
            }
        }
        foreach (var token in tokens)
        {
            FirstPass(token);
        }
        var found = false;
        for (var i = 0; i < tokens.Count; i++)
        {
            SecondPass(tokens[i], i + 1 < tokens.Count ? tokens[i + 1] : null);
            if (found)
            {
                return true;
            }
            if (tokens[i].SentenceBreak)
            {
                found = true;
            }
        }
        return false;
    }

    private static void FirstPass(Token token)
    {
        var text = token.Text;
        if (text is "." or "?" or "!")
        {
            token.SentenceBreak = true;
        }
        else if (Ellipsis.IsMatch(text))
        {
            token.IsEllipsis = true;
        }
        else if (token.PeriodFinal && !text.EndsWith("..", StringComparison.Ordinal))
        {
            var stem = text[..^1].ToLowerInvariant();
            if (Model.Abbreviations.Contains(stem) || Model.Abbreviations.Contains(stem.Split('-')[^1]))
            {
                token.Abbreviation = true;
            }
            else
            {
                token.SentenceBreak = true;
            }
        }
    }

    private enum Starter
    {
        No,
        Yes,
        Unknown,
    }

    // Punkt's orthographic-context flags (nltk punkt.py _ORTHO_*).
    private const int OrthoBeginUpper = 1 << 1;
    private const int OrthoMidUpper = 1 << 2;
    private const int OrthoUnknownUpper = 1 << 3;
    private const int OrthoBeginLower = 1 << 4;
    private const int OrthoUpper = OrthoBeginUpper | OrthoMidUpper | OrthoUnknownUpper;

    /// <summary>
    /// Punkt's orthographic heuristic (<c>_ortho_heuristic</c>): whether <paramref name="token"/> starts a
    /// sentence, judged by how its type was written in the training text. Exact for tokens that do not
    /// start with an upper-case letter (see the remarks).
    /// </summary>
    private static Starter OrthographicHeuristic(Token token)
    {
        if (token.Text is ";" or ":" or "," or "." or "!" or "?")
        {
            return Starter.No;
        }
        // "First upper, seen lower-case and never upper-case mid-sentence" needs the full table, not embedded:
        // an upper-case token is judged as an unseen type (flags 0), which never makes it a starter.
        // "First lower and (seen upper-case or never seen lower-case at a sentence start)": false only for
        // the embedded types.
        if (token.FirstLower && !LowercaseUnknownTypes.Contains(token.TypeNoSentencePeriod))
        {
            return Starter.No;
        }
        return Starter.Unknown;
    }

    private static void SecondPass(Token first, Token? next)
    {
        if (next is null || !first.PeriodFinal)
        {
            return;
        }
        var type = first.TypeNoPeriod;
        var nextType = next.TypeNoSentencePeriod;
        var isInitial = first.IsInitial;
        if (Model.Collocations.Contains((type, nextType)))
        {
            first.SentenceBreak = false;
            first.Abbreviation = true;
            return;
        }
        if ((first.Abbreviation || first.IsEllipsis) && !isInitial)
        {
            if (OrthographicHeuristic(next) == Starter.Yes
                || (next.FirstUpper && Model.SentenceStarters.Contains(nextType)))
            {
                first.SentenceBreak = true;
                return;
            }
        }
        if (isInitial || type == NumberType)
        {
            var starter = OrthographicHeuristic(next);
            if (starter == Starter.No)
            {
                first.SentenceBreak = false;
                first.Abbreviation = true;
                return;
            }
            if (starter == Starter.Unknown && isInitial && next.FirstUpper)
            {
                first.SentenceBreak = false;
                first.Abbreviation = true;
            }
        }
    }

    private static (HashSet<string>, HashSet<(string, string)>, HashSet<string>) LoadModel()
    {
        var abbreviations = new HashSet<string>(StringComparer.Ordinal);
        var starters = new HashSet<string>(StringComparer.Ordinal);
        var collocations = new HashSet<(string, string)>();
        foreach (var line in ChairResources.Lines("punkt-english.txt"))
        {
            var tab = line.IndexOf('\t', StringComparison.Ordinal);
            var kind = line[..tab];
            var value = line[(tab + 1)..];
            if (kind == "abbrev")
            {
                abbreviations.Add(value);
            }
            else if (kind == "colloc")
            {
                var pair = value.Split('\t');
                collocations.Add((pair[0], pair[1]));
            }
            else if (kind == "starter")
            {
                starters.Add(value);
            }
            else
            {
                throw new InvalidDataException($"punkt-english.txt: expected 'abbrev', 'colloc' or 'starter' lines, found '{kind}'.");
            }
        }
        return (abbreviations, collocations, starters);
    }

    private static HashSet<string> LoadOrthographicContext()
    {
        var types = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in ChairResources.Lines("punkt-english-ortho.txt"))
        {
            var fields = line.Split('\t');
            if (fields.Length != 2 || !int.TryParse(fields[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var flags))
            {
                throw new InvalidDataException($"punkt-english-ortho.txt: expected 'type<TAB>flags' lines, found '{line}'.");
            }
            if ((flags & OrthoBeginLower) == 0 || (flags & OrthoUpper) != 0)
            {
                throw new InvalidDataException($"punkt-english-ortho.txt: expected flags with 16 and without 2, 4, 8 for '{fields[0]}', found {flags}.");
            }
            types.Add(fields[0]);
        }
        return types;
    }
}

/// <summary>The CHAIR data embedded in this assembly (synonym table, Punkt model).</summary>
internal static class ChairResources
{
    /// <summary>The lines of an embedded Chair/*.txt resource, without its leading '#' comment lines.</summary>
    public static List<string> Lines(string name)
    {
        var assembly = typeof(ChairResources).Assembly;
        using var stream = assembly.GetManifestResourceStream("SynthVlm.Hallucination.Chair." + name)
            ?? throw new InvalidOperationException($"Embedded resource Chair/{name} is missing from {assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        var header = true;
        while (reader.ReadLine() is { } line)
        {
            if (header && line.StartsWith('#'))
            {
                continue;
            }
            header = false;
            lines.Add(line);
        }
        return lines;
    }
}
