using System.Text.Json;

namespace SynthVlm.Curation;

/// <summary>
/// The word list flagged_words_filter looks refined words up in. Matching is ordinal on the
/// refined (lower-cased, stripped) word, as Data-Juicer's <c>word in self.FLAGGED_WORDS[lang]</c>
/// is, so an entry with upper-case letters can never match, there or here.
/// </summary>
public sealed class FlaggedWordList
{
    private readonly HashSet<string> _words;
    private readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    private FlaggedWordList(HashSet<string> words, string source)
    {
        _words = words;
        _lookup = words.GetAlternateLookup<ReadOnlySpan<char>>();
        Source = source;
    }

    /// <summary>Where the words came from (a file path, or a description).</summary>
    public string Source { get; }

    /// <summary>Number of distinct words.</summary>
    public int Count => _words.Count;

    /// <summary>
    /// Loads a list from <paramref name="path"/>: a <c>.json</c> file in Data-Juicer's
    /// flagged_words format (<c>{"en": ["word", ...], "zh": [...]}</c>), from which the
    /// <paramref name="language"/> list is taken ("all" merges every list when the file has no
    /// "all" key, as load_words_asset's caller does); any other file is read as one word per line
    /// (surrounding whitespace trimmed, blank lines skipped).
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The JSON is malformed or lacks the language.</exception>
    public static FlaggedWordList Load(string path, string language = "en")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentException.ThrowIfNullOrWhiteSpace(language);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Flagged-words file '{path}' does not exist.", path);
        }
        var words = new HashSet<string>(StringComparer.Ordinal);
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            ReadJson(path, language, words);
        }
        else
        {
            foreach (var line in File.ReadLines(path))
            {
                var word = line.Trim();
                if (word.Length > 0)
                {
                    words.Add(word);
                }
            }
        }
        return new FlaggedWordList(words, path);
    }

    /// <summary>A list from words in memory (used as given: no trimming or case folding).</summary>
    public static FlaggedWordList FromWords(IEnumerable<string> words, string source = "(in memory)")
    {
        ArgumentNullException.ThrowIfNull(words);
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var w in words)
        {
            if (w is null)
            {
                throw new ArgumentException("Flagged words must not contain null.", nameof(words));
            }
            set.Add(w);
        }
        return new FlaggedWordList(set, source);
    }

    /// <summary>True when <paramref name="word"/> is on the list (ordinal).</summary>
    public bool Contains(ReadOnlySpan<char> word) => _lookup.Contains(word);

    private static void ReadJson(string path, string language, HashSet<string> words)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Flagged-words file '{path}' is not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"Flagged-words file '{path}': expected an object of language -> word list, found {root.ValueKind}.");
            }
            var found = false;
            var mergeAll = language == "all" && !root.TryGetProperty("all", out _);
            foreach (var property in root.EnumerateObject())
            {
                if (!mergeAll && property.Name != language)
                {
                    continue;
                }
                found = true;
                if (property.Value.ValueKind != JsonValueKind.Array)
                {
                    throw new InvalidDataException($"Flagged-words file '{path}': \"{property.Name}\" must be an array of strings, found {property.Value.ValueKind}.");
                }
                foreach (var item in property.Value.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String)
                    {
                        throw new InvalidDataException($"Flagged-words file '{path}': \"{property.Name}\" holds a {item.ValueKind}, expected strings only.");
                    }
                    words.Add(item.GetString()!);
                }
            }
            if (!found)
            {
                throw new InvalidDataException($"Flagged-words file '{path}' has no \"{language}\" list.");
            }
        }
    }
}
