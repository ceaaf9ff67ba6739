using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace SynthVlm.Tokenizers;

/// <summary>One BPE merge: the two tokens joined, in rank order.</summary>
/// <param name="Left">The left token.</param>
/// <param name="Right">The right token.</param>
public readonly record struct BpeMerge(string Left, string Right);

/// <summary>A trained CLIP-style vocabulary: tokens by id and the merges in rank order.</summary>
public sealed class BpeModel
{
    internal BpeModel(IReadOnlyList<string> tokens, IReadOnlyList<BpeMerge> merges)
    {
        Tokens = tokens;
        Merges = merges;
    }

    /// <summary>Token strings; the index is the id. The last two are <c>&lt;|startoftext|&gt;</c> and <c>&lt;|endoftext|&gt;</c>.</summary>
    public IReadOnlyList<string> Tokens { get; }

    /// <summary>The merges, best rank first.</summary>
    public IReadOnlyList<BpeMerge> Merges { get; }

    /// <summary>Id of <c>&lt;|startoftext|&gt;</c> (second to last).</summary>
    public int BosId => Tokens.Count - 2;

    /// <summary>Id of <c>&lt;|endoftext|&gt;</c> (last).</summary>
    public int EosId => Tokens.Count - 1;
}

/// <summary>How <see cref="BpeTrainer.WriteFolder"/> configures the written tokenizer.</summary>
public sealed record TokenizerFolderOptions
{
    /// <summary>
    /// The pad token: <c>&lt;|endoftext|&gt;</c> like HF's CLIP and SDXL's <c>tokenizer</c>, or
    /// <c>"!"</c> like SDXL's <c>tokenizer_2</c>, which also registers "!" (id 0) as a special,
    /// non-normalized added token, so every literal "!" in a prompt becomes id 0.
    /// </summary>
    public string PadToken { get; init; } = ClipTokenizer.EndOfText;

    /// <summary><c>model_max_length</c>.</summary>
    public int ModelMaxLength { get; init; } = ClipTokenizer.DefaultMaxLength;
}

/// <summary>
/// Deterministic byte-level BPE training with CLIP's cleaning and pre-split, and a writer for
/// the Hugging Face folder layout (slow and fast formats) that <see cref="ClipTokenizer"/> and HF
/// tokenizers load. The vocabulary is laid out as CLIP's: 256 byte symbols, the same 256 with
/// <c>&lt;/w&gt;</c>, one token per merge, then <c>&lt;|startoftext|&gt;</c> and <c>&lt;|endoftext|&gt;</c>.
/// </summary>
public static class BpeTrainer
{
    /// <summary>The pre-split pattern written to tokenizer.json; <see cref="ClipText"/> implements it.</summary>
    public const string SplitPattern = @"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

    private const string EndOfWord = "</w>";
    private const string CorpusResource = "SynthVlm.Tokenizers.Resources.captions.txt";

    private static readonly JsonWriterOptions JsonOptions = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// The embedded caption corpus: about 22 KB of English captions written for this project, one
    /// per line (sentences assembled from word lists plus hand-written ones with punctuation,
    /// digits, contractions and a few accented words).
    /// </summary>
    public static string TinyCorpus { get; } = ReadCorpus();

    /// <summary>
    /// Trains on <see cref="TinyCorpus"/>; used by <c>synthvlm models init-tiny</c>. The corpus
    /// supports 1,574 merges (vocabulary 2,088); asking for more returns those.
    /// </summary>
    public static BpeModel TrainTiny(int merges = 2000) => Train(TinyCorpus.Split('\n', StringSplitOptions.RemoveEmptyEntries), merges);

    /// <summary>
    /// Learns up to <paramref name="merges"/> merges (fewer when every word is a single token).
    /// Each step merges the most frequent adjacent pair; ties go to the ordinally smallest
    /// (left, right) pair, so the result depends only on the corpus.
    /// </summary>
    public static BpeModel Train(IEnumerable<string> corpus, int merges)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentOutOfRangeException.ThrowIfNegative(merges);

        var tokens = new List<string>(512 + merges + 2);
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var c in ByteLevel.VocabularyOrder)
        {
            Add(c.ToString());
        }
        foreach (var c in ByteLevel.VocabularyOrder)
        {
            Add(c + EndOfWord);
        }

        var wordCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in corpus)
        {
            ArgumentNullException.ThrowIfNull(line, nameof(corpus));
            var text = ClipText.Normalize(line);
            var position = 0;
            while (ClipText.NextPiece(text, ref position, out var start, out var length))
            {
                var word = text.Substring(start, length);
                wordCounts[word] = wordCounts.GetValueOrDefault(word) + 1;
            }
        }

        // Sorted so that the pair counts' iteration order, and with it everything, is deterministic.
        var words = new List<(List<int> Symbols, int Count)>();
        foreach (var (word, count) in wordCounts.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var bytes = Encoding.UTF8.GetBytes(word);
            var symbols = new List<int>(bytes.Length);
            for (var i = 0; i < bytes.Length; i++)
            {
                var b = ByteLevel.ByteToChar[bytes[i]].ToString();
                symbols.Add(ids[i == bytes.Length - 1 ? b + EndOfWord : b]);
            }
            words.Add((symbols, count));
        }

        var learned = new List<BpeMerge>(merges);
        var pairCounts = new Dictionary<(int, int), int>();
        while (learned.Count < merges)
        {
            pairCounts.Clear();
            foreach (var (symbols, count) in words)
            {
                for (var i = 0; i < symbols.Count - 1; i++)
                {
                    var pair = (symbols[i], symbols[i + 1]);
                    pairCounts[pair] = pairCounts.GetValueOrDefault(pair) + count;
                }
            }
            if (pairCounts.Count == 0)
            {
                break;
            }
            var best = default((int Left, int Right));
            var bestCount = 0;
            foreach (var (pair, count) in pairCounts)
            {
                if (count > bestCount || (count == bestCount && ComparePairs(pair, best) < 0))
                {
                    best = pair;
                    bestCount = count;
                }
            }
            var left = tokens[best.Left];
            var right = tokens[best.Right];
            var merged = left + right;
            // Two different pairs can spell the same token ("a"+"bc", "ab"+"c"): one id serves both.
            var mergedId = ids.TryGetValue(merged, out var existing) ? existing : Add(merged);
            learned.Add(new BpeMerge(left, right));
            foreach (var (symbols, _) in words)
            {
                for (var i = 0; i < symbols.Count - 1; i++)
                {
                    if (symbols[i] == best.Left && symbols[i + 1] == best.Right)
                    {
                        symbols[i] = mergedId;
                        symbols.RemoveAt(i + 1);
                    }
                }
            }
        }
        Add(ClipTokenizer.StartOfText);
        Add(ClipTokenizer.EndOfText);
        return new BpeModel(tokens, learned);

        int Add(string token)
        {
            ids[token] = tokens.Count;
            tokens.Add(token);
            return tokens.Count - 1;
        }

        int ComparePairs((int Left, int Right) a, (int Left, int Right) b)
        {
            var c = string.CompareOrdinal(tokens[a.Left], tokens[b.Left]);
            return c != 0 ? c : string.CompareOrdinal(tokens[a.Right], tokens[b.Right]);
        }
    }

    /// <summary>
    /// Writes <paramref name="model"/> as a Hugging Face CLIP tokenizer folder: vocab.json,
    /// merges.txt, tokenizer_config.json, special_tokens_map.json and tokenizer.json (the fast
    /// format, mirroring openai/clip-vit-*'s pipeline). Creates the folder when needed.
    /// </summary>
    /// <exception cref="ArgumentException">The pad token is not in the vocabulary.</exception>
    public static void WriteFolder(string dir, BpeModel model, TokenizerFolderOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dir);
        ArgumentNullException.ThrowIfNull(model);
        options ??= new TokenizerFolderOptions();
        var padId = IndexOf(model.Tokens, options.PadToken);
        if (padId < 0)
        {
            throw new ArgumentException($"Pad token '{options.PadToken}' is not in the vocabulary.", nameof(options));
        }
        Directory.CreateDirectory(dir);

        // Added tokens: the two specials (matched after normalization, as in CLIP's files) and a
        // pad that is an ordinary vocabulary token (tokenizer_2's "!", matched in raw text).
        var added = new List<AddedToken>();
        if (padId != model.BosId && padId != model.EosId)
        {
            added.Add(new AddedToken(padId, options.PadToken, Special: true, Normalized: false));
        }
        added.Add(new AddedToken(model.BosId, ClipTokenizer.StartOfText, Special: true, Normalized: true));
        added.Add(new AddedToken(model.EosId, ClipTokenizer.EndOfText, Special: true, Normalized: true));

        WriteJson(Path.Combine(dir, "vocab.json"), w =>
        {
            w.WriteStartObject();
            for (var id = 0; id < model.Tokens.Count; id++)
            {
                w.WriteNumber(model.Tokens[id], id);
            }
            w.WriteEndObject();
        });

        var merges = new StringBuilder("#version: 0.2\n");
        foreach (var m in model.Merges)
        {
            merges.Append(m.Left).Append(' ').Append(m.Right).Append('\n');
        }
        File.WriteAllText(Path.Combine(dir, "merges.txt"), merges.ToString(), new UTF8Encoding(false));

        WriteJson(Path.Combine(dir, "tokenizer_config.json"), w =>
        {
            w.WriteStartObject();
            w.WriteBoolean("add_prefix_space", false);
            w.WriteStartObject("added_tokens_decoder");
            foreach (var t in added)
            {
                w.WriteStartObject(t.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                WriteAddedTokenFields(w, t);
                w.WriteBoolean("special", t.Special);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteString("bos_token", ClipTokenizer.StartOfText);
            w.WriteBoolean("clean_up_tokenization_spaces", true);
            w.WriteBoolean("do_lower_case", true);
            w.WriteString("eos_token", ClipTokenizer.EndOfText);
            w.WriteString("errors", "replace");
            w.WriteNumber("model_max_length", options.ModelMaxLength);
            w.WriteString("pad_token", options.PadToken);
            w.WriteString("tokenizer_class", "CLIPTokenizer");
            w.WriteString("unk_token", ClipTokenizer.EndOfText);
            w.WriteEndObject();
        });

        WriteJson(Path.Combine(dir, "special_tokens_map.json"), w =>
        {
            w.WriteStartObject();
            WriteMapEntry(w, "bos_token", ClipTokenizer.StartOfText, normalized: true);
            WriteMapEntry(w, "eos_token", ClipTokenizer.EndOfText, normalized: true);
            WriteMapEntry(w, "pad_token", options.PadToken, normalized: padId == model.BosId || padId == model.EosId);
            WriteMapEntry(w, "unk_token", ClipTokenizer.EndOfText, normalized: true);
            w.WriteEndObject();
        });

        WriteJson(Path.Combine(dir, "tokenizer.json"), w => WriteFastTokenizer(w, model, added));
    }

    private static void WriteFastTokenizer(Utf8JsonWriter w, BpeModel model, List<AddedToken> added)
    {
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");
        w.WriteStartArray("added_tokens");
        foreach (var t in added.OrderBy(t => t.Id))
        {
            w.WriteStartObject();
            w.WriteNumber("id", t.Id);
            w.WriteString("content", t.Content);
            w.WriteBoolean("single_word", t.SingleWord);
            w.WriteBoolean("lstrip", t.LeftStrip);
            w.WriteBoolean("rstrip", t.RightStrip);
            w.WriteBoolean("normalized", t.Normalized);
            w.WriteBoolean("special", t.Special);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteStartObject("normalizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("normalizers");
        w.WriteStartObject();
        w.WriteString("type", "NFC");
        w.WriteEndObject();
        w.WriteStartObject();
        w.WriteString("type", "Replace");
        w.WriteStartObject("pattern");
        w.WriteString("Regex", @"\s+");
        w.WriteEndObject();
        w.WriteString("content", " ");
        w.WriteEndObject();
        w.WriteStartObject();
        w.WriteString("type", "Lowercase");
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("pretokenizers");
        w.WriteStartObject();
        w.WriteString("type", "Split");
        w.WriteStartObject("pattern");
        w.WriteString("Regex", SplitPattern);
        w.WriteEndObject();
        w.WriteString("behavior", "Removed");
        w.WriteBoolean("invert", true);
        w.WriteEndObject();
        w.WriteStartObject();
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", false);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteStartObject("post_processor");
        w.WriteString("type", "RobertaProcessing");
        w.WriteStartArray("sep");
        w.WriteStringValue(ClipTokenizer.EndOfText);
        w.WriteNumberValue(model.EosId);
        w.WriteEndArray();
        w.WriteStartArray("cls");
        w.WriteStringValue(ClipTokenizer.StartOfText);
        w.WriteNumberValue(model.BosId);
        w.WriteEndArray();
        w.WriteBoolean("trim_offsets", false);
        w.WriteBoolean("add_prefix_space", false);
        w.WriteEndObject();

        w.WriteStartObject("decoder");
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", true);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();

        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteString("unk_token", ClipTokenizer.EndOfText);
        w.WriteString("continuing_subword_prefix", "");
        w.WriteString("end_of_word_suffix", EndOfWord);
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WriteBoolean("ignore_merges", false);
        w.WriteStartObject("vocab");
        for (var id = 0; id < model.Tokens.Count; id++)
        {
            w.WriteNumber(model.Tokens[id], id);
        }
        w.WriteEndObject();
        w.WriteStartArray("merges");
        foreach (var m in model.Merges)
        {
            w.WriteStringValue(m.Left + " " + m.Right);
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteAddedTokenFields(Utf8JsonWriter w, AddedToken t)
    {
        w.WriteString("content", t.Content);
        w.WriteBoolean("lstrip", t.LeftStrip);
        w.WriteBoolean("normalized", t.Normalized);
        w.WriteBoolean("rstrip", t.RightStrip);
        w.WriteBoolean("single_word", t.SingleWord);
    }

    private static void WriteMapEntry(Utf8JsonWriter w, string name, string content, bool normalized)
    {
        w.WriteStartObject(name);
        WriteAddedTokenFields(w, new AddedToken(0, content, Special: true, Normalized: normalized));
        w.WriteEndObject();
    }

    private static void WriteJson(string path, Action<Utf8JsonWriter> write)
    {
        using (var stream = File.Create(path))
        using (var writer = new Utf8JsonWriter(stream, JsonOptions))
        {
            write(writer);
        }
        File.AppendAllText(path, "\n");
    }

    private static int IndexOf(IReadOnlyList<string> tokens, string token)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            if (tokens[i] == token)
            {
                return i;
            }
        }
        return -1;
    }

    private static string ReadCorpus()
    {
        using var stream = typeof(BpeTrainer).Assembly.GetManifestResourceStream(CorpusResource)
            ?? throw new InvalidOperationException($"Embedded resource {CorpusResource} is missing from {typeof(BpeTrainer).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
