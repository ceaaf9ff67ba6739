using System.Buffers;
using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Text;
using System.Text.Json;

namespace SynthVlm.Tokenizers;

/// <summary>
/// CLIP's byte-level BPE tokenizer, read from a Hugging Face tokenizer folder (vocab.json,
/// merges.txt, tokenizer_config.json, special_tokens_map.json) and producing the ids of
/// <c>CLIPTokenizerFast</c>: added tokens split out first, then NFC, whitespace runs collapsed to
/// one space and lowercase, the CLIP pre-split, byte-level mapping, BPE with the <c>&lt;/w&gt;</c>
/// end-of-word suffix, BOS … EOS around the content, truncation to the first
/// <c>maxLength − 2</c> content tokens.
/// </summary>
/// <remarks>
/// Differences from other CLIP tokenizers: OpenAI's reference and the slow HF tokenizer first run
/// ftfy (mojibake repair) and OpenAI's also HTML-unescapes twice; neither is done here (ftfy is not
/// available), exactly as HF's fast tokenizer does not. Text already clean (no mojibake, no HTML
/// entities) tokenizes identically. NFC is built in (tables generated from Unicode 14.0, Python
/// 3.11's unicodedata) because string.Normalize is a no-op under InvariantGlobalization; characters
/// assigned after Unicode 14.0 are left as they are. Lowercasing is per character, as in HF's fast
/// tokenizer (no Greek final-sigma rule, which Python's str.lower in the slow tokenizers applies).
/// A lone UTF-16 surrogate is read as U+FFFD. Instances are immutable apart from a bounded,
/// thread-safe word cache, so <see cref="Encode"/> and <see cref="EncodeBatch"/> may run concurrently.
/// </remarks>
public sealed class ClipTokenizer
{
    /// <summary>CLIP's context length.</summary>
    public const int DefaultMaxLength = 77;

    /// <summary>CLIP's default start token.</summary>
    public const string StartOfText = "<|startoftext|>";

    /// <summary>CLIP's default end token (also unk and, for HF CLIP folders, pad).</summary>
    public const string EndOfText = "<|endoftext|>";

    private const string EndOfWord = "</w>";
    private const int CacheCapacity = 10_000;
    private const int StackWordLimit = 128;

    private readonly string?[] _idToToken;
    private readonly FrozenDictionary<long, Merge> _merges;
    private readonly int[] _byteIds = new int[256];
    private readonly int[] _byteEndIds = new int[256];
    private readonly AddedToken[] _rawAdded;
    private readonly AddedToken[] _normalizedAdded;
    private readonly SearchValues<char> _rawAddedStarts;
    private readonly SearchValues<char> _normalizedAddedStarts;
    private readonly FrozenDictionary<int, AddedToken> _addedById;
    private readonly FrozenDictionary<string, int> _vocab;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;
    private int _cacheCount;

    private readonly record struct Merge(int Rank, int Id);

    private ClipTokenizer(
        FrozenDictionary<string, int> vocab,
        FrozenDictionary<long, Merge> merges,
        IReadOnlyList<AddedToken> added,
        int bosId,
        int eosId,
        int padId,
        int unkId,
        int modelMaxLength)
    {
        _vocab = vocab;
        _merges = merges;
        BosId = bosId;
        EosId = eosId;
        PadId = padId;
        UnkId = unkId;
        ModelMaxLength = modelMaxLength;
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();

        var size = 0;
        foreach (var id in vocab.Values)
        {
            size = Math.Max(size, id + 1);
        }
        foreach (var t in added)
        {
            size = Math.Max(size, t.Id + 1);
        }
        VocabSize = size;
        _idToToken = new string?[size];
        foreach (var (token, id) in vocab)
        {
            _idToToken[id] = token;
        }
        foreach (var t in added)
        {
            _idToToken[t.Id] = t.Content;
        }
        _addedById = added.ToFrozenDictionary(t => t.Id);

        // Longest first so that, at one position, the longest token wins (leftmost-longest).
        var ordered = added.Where(t => t.Content.Length > 0).OrderByDescending(t => t.Content.Length).ThenBy(t => t.Id).ToArray();
        _rawAdded = ordered.Where(t => !t.Normalized).ToArray();
        // Matched against normalized text, so their content is normalized too; an empty match could never advance.
        _normalizedAdded = ordered.Where(t => t.Normalized).Select(t => t with { Content = ClipText.Normalize(t.Content) })
            .Where(t => t.Content.Length > 0).OrderByDescending(t => t.Content.Length).ThenBy(t => t.Id).ToArray();
        _rawAddedStarts = SearchValues.Create(_rawAdded.Select(t => t.Content[0]).Distinct().ToArray());
        _normalizedAddedStarts = SearchValues.Create(_normalizedAdded.Select(t => t.Content[0]).Distinct().ToArray());

        Span<char> one = stackalloc char[1];
        for (var b = 0; b < 256; b++)
        {
            one[0] = ByteLevel.ByteToChar[b];
            var s = one.ToString();
            _byteIds[b] = vocab.TryGetValue(s, out var id) ? id : unkId;
            _byteEndIds[b] = vocab.TryGetValue(s + EndOfWord, out id) ? id : unkId;
        }
    }

    /// <summary>Id of the start token (<c>bos_token</c>).</summary>
    public int BosId { get; }

    /// <summary>Id of the end token (<c>eos_token</c>).</summary>
    public int EosId { get; }

    /// <summary>Id used for padding (<c>pad_token</c>; 49407 for SDXL's tokenizer, 0 = "!" for tokenizer_2).</summary>
    public int PadId { get; }

    /// <summary>Id of the unknown token, or -1 when the folder names none that exists.</summary>
    public int UnkId { get; }

    /// <summary>Number of embedding rows the ids need: the largest id in vocab.json or the added tokens, plus one.</summary>
    public int VocabSize { get; }

    /// <summary><c>model_max_length</c> from tokenizer_config.json (77 when absent).</summary>
    public int ModelMaxLength { get; }

    /// <summary>The added tokens (matched whole before BPE).</summary>
    public IReadOnlyCollection<AddedToken> AddedTokens => _addedById.Values;

    /// <summary>The id of a vocabulary or added token, or null.</summary>
    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        foreach (var t in _addedById.Values)
        {
            if (t.Content == token)
            {
                return t.Id;
            }
        }
        return _vocab.TryGetValue(token, out var id) ? id : null;
    }

    /// <summary>The token string of an id (byte-level characters, <c>&lt;/w&gt;</c> suffix kept), or null.</summary>
    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    /// <summary>
    /// Reads a Hugging Face CLIP tokenizer folder. Requires vocab.json and merges.txt;
    /// tokenizer_config.json and special_tokens_map.json are optional (CLIP defaults apply).
    /// <c>do_lower_case</c> is not consulted: CLIP's fast tokenizer always lowercases.
    /// </summary>
    /// <exception cref="TokenizerFormatException">A file is missing or malformed, a merge names a token
    /// missing from vocab.json, or a special token resolves to no id; the message names the file.</exception>
    public static ClipTokenizer FromFolder(string dir)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dir);
        if (!Directory.Exists(dir))
        {
            throw new DirectoryNotFoundException($"Tokenizer folder '{dir}' does not exist.");
        }
        var vocabPath = Path.Combine(dir, "vocab.json");
        var mergesPath = Path.Combine(dir, "merges.txt");
        var configPath = Path.Combine(dir, "tokenizer_config.json");
        var mapPath = Path.Combine(dir, "special_tokens_map.json");

        var vocab = ReadVocab(vocabPath);
        var merges = ReadMerges(mergesPath, vocabPath, vocab);

        JsonElement? config = File.Exists(configPath) ? TokenizerConfigJson.ReadObject(configPath) : null;
        JsonElement? map = File.Exists(mapPath) ? TokenizerConfigJson.ReadObject(mapPath) : null;

        var added = new Dictionary<int, AddedToken>();
        if (config is not null && config.Value.TryGetProperty("added_tokens_decoder", out var decoder))
        {
            if (decoder.ValueKind != JsonValueKind.Object)
            {
                throw new TokenizerFormatException(configPath, "added_tokens_decoder must be an object of id -> token.");
            }
            foreach (var entry in decoder.EnumerateObject())
            {
                if (!int.TryParse(entry.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id))
                {
                    throw new TokenizerFormatException(configPath, $"added_tokens_decoder key '{entry.Name}' is not a non-negative integer id.");
                }
                if (entry.Value.ValueKind != JsonValueKind.Object || !entry.Value.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                {
                    throw new TokenizerFormatException(configPath, $"added_tokens_decoder[{id}] has no string \"content\".");
                }
                added[id] = new AddedToken(
                    id,
                    content.GetString()!,
                    Special: GetBool(entry.Value, "special", false),
                    Normalized: GetBool(entry.Value, "normalized", true),
                    LeftStrip: GetBool(entry.Value, "lstrip", false),
                    RightStrip: GetBool(entry.Value, "rstrip", false),
                    SingleWord: GetBool(entry.Value, "single_word", false));
            }
        }

        var configName = File.Exists(configPath) ? configPath : mapPath;
        var bos = TokenizerConfigJson.SpecialToken(config, map, "bos_token") ?? StartOfText;
        var eos = TokenizerConfigJson.SpecialToken(config, map, "eos_token") ?? EndOfText;
        var unk = TokenizerConfigJson.SpecialToken(config, map, "unk_token") ?? EndOfText;
        var pad = TokenizerConfigJson.SpecialToken(config, map, "pad_token") ?? EndOfText;

        int Resolve(string role, string token, bool required)
        {
            foreach (var t in added.Values)
            {
                if (t.Content == token)
                {
                    return t.Id;
                }
            }
            if (vocab.TryGetValue(token, out var id))
            {
                // HF registers named special tokens in the added vocabulary, so they match whole.
                added[id] = new AddedToken(id, token, Special: true, Normalized: false);
                return id;
            }
            if (required)
            {
                throw new TokenizerFormatException(configName, $"{role} '{token}' is in neither vocab.json ({vocabPath}) nor added_tokens_decoder.");
            }
            return -1;
        }

        var bosId = Resolve("bos_token", bos, true);
        var eosId = Resolve("eos_token", eos, true);
        var padId = Resolve("pad_token", pad, true);
        var unkId = Resolve("unk_token", unk, false);

        var maxLength = DefaultMaxLength;
        if (config is not null && config.Value.TryGetProperty("model_max_length", out var mml) && mml.ValueKind == JsonValueKind.Number)
        {
            // transformers writes 1e30 for "no limit"; CLIP's text tower is 77 wide either way.
            maxLength = mml.TryGetInt32(out var m) && m >= 2 ? m : DefaultMaxLength;
        }

        if (unkId < 0)
        {
            for (var b = 0; b < 256; b++)
            {
                var s = ByteLevel.ByteToChar[b].ToString();
                if (!vocab.ContainsKey(s) || !vocab.ContainsKey(s + EndOfWord))
                {
                    throw new TokenizerFormatException(vocabPath, $"byte symbol '{s}' (byte {b}) or '{s}{EndOfWord}' is missing and there is no unk_token to stand for it.");
                }
            }
        }

        return new ClipTokenizer(vocab, merges, added.Values.ToList(), bosId, eosId, padId, unkId, maxLength);
    }

    /// <summary>
    /// Encodes <paramref name="text"/> as BOS, content tokens, EOS; keeps the first
    /// <paramref name="maxLength"/> − 2 content tokens. No padding (see <see cref="EncodeBatch"/>).
    /// </summary>
    public TokenizedText Encode(string text, int maxLength = DefaultMaxLength)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 2);
        var buffer = new IdBuffer(64);
        try
        {
            EncodeContent(text, ref buffer);
            var kept = Math.Min(buffer.Count, maxLength - 2);
            var ids = new int[kept + 2];
            ids[0] = BosId;
            buffer.Span[..kept].CopyTo(ids.AsSpan(1));
            ids[^1] = EosId;
            return new TokenizedText(ids, buffer.Count > kept, buffer.Count);
        }
        finally
        {
            buffer.Dispose();
        }
    }

    /// <summary>
    /// Encodes a batch into a row-major [texts.Count, sequenceLength] int64 block for ONNX Runtime:
    /// BOS, content (truncated to <paramref name="sequenceLength"/> − 2), EOS, then <see cref="PadId"/>.
    /// </summary>
    /// <param name="texts">The texts.</param>
    /// <param name="ids">Receives the ids; length texts.Count × sequenceLength.</param>
    /// <param name="attentionMask">Receives 1 for BOS, content and EOS, 0 for padding; same length as
    /// <paramref name="ids"/>, or empty when the model takes no mask (SDXL's text encoders).</param>
    /// <param name="sequenceLength">Row length (77 for CLIP).</param>
    /// <param name="truncated">Receives whether each text was cut; length texts.Count, or empty.</param>
    public void EncodeBatch(IReadOnlyList<string> texts, Span<long> ids, Span<long> attentionMask, int sequenceLength, Span<bool> truncated)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 2);
        var total = (long)texts.Count * sequenceLength;
        if (ids.Length != total)
        {
            throw new ArgumentException($"ids holds {ids.Length} values; {texts.Count} texts × {sequenceLength} need {total}.", nameof(ids));
        }
        if (!attentionMask.IsEmpty && attentionMask.Length != total)
        {
            throw new ArgumentException($"attentionMask holds {attentionMask.Length} values; expected {total} or none.", nameof(attentionMask));
        }
        if (!truncated.IsEmpty && truncated.Length != texts.Count)
        {
            throw new ArgumentException($"truncated holds {truncated.Length} values; expected {texts.Count} or none.", nameof(truncated));
        }
        var buffer = new IdBuffer(64);
        try
        {
            for (var row = 0; row < texts.Count; row++)
            {
                var text = texts[row] ?? throw new ArgumentException($"texts[{row}] is null.", nameof(texts));
                buffer.Clear();
                EncodeContent(text, ref buffer);
                var kept = Math.Min(buffer.Count, sequenceLength - 2);
                var rowIds = ids.Slice(row * sequenceLength, sequenceLength);
                rowIds[0] = BosId;
                var content = buffer.Span[..kept];
                for (var i = 0; i < content.Length; i++)
                {
                    rowIds[i + 1] = content[i];
                }
                rowIds[kept + 1] = EosId;
                rowIds[(kept + 2)..].Fill(PadId);
                if (!attentionMask.IsEmpty)
                {
                    var rowMask = attentionMask.Slice(row * sequenceLength, sequenceLength);
                    rowMask[..(kept + 2)].Fill(1);
                    rowMask[(kept + 2)..].Clear();
                }
                if (!truncated.IsEmpty)
                {
                    truncated[row] = buffer.Count > kept;
                }
            }
        }
        finally
        {
            buffer.Dispose();
        }
    }

    /// <summary>Decodes ids to text, skipping special tokens (BOS, EOS, pad), as HF's <c>decode(skip_special_tokens=True)</c>.</summary>
    public string Decode(ReadOnlySpan<int> ids) => Decode(ids, skipSpecialTokens: true);

    /// <summary>
    /// Decodes ids to text: byte-level characters back to UTF-8 bytes (invalid sequences become
    /// U+FFFD), <c>&lt;/w&gt;</c> to a space, the result trimmed, as HF's CLIP tokenizers decode.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside the vocabulary.</exception>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens)
    {
        var bytes = new ArrayBufferWriter<byte>(Math.Max(16, ids.Length * 4));
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var id in ids)
        {
            var token = IdToToken(id) ?? throw new ArgumentOutOfRangeException(nameof(ids), id, $"Id {id} is not in the vocabulary (size {VocabSize}).");
            if (_addedById.TryGetValue(id, out var added))
            {
                if (added.Special && skipSpecialTokens)
                {
                    continue;
                }
                bytes.Write(Encoding.UTF8.GetBytes(added.Content));
                continue;
            }
            foreach (var c in token)
            {
                var b = ByteLevel.CharToByte(c);
                if (b >= 0)
                {
                    bytes.Write([(byte)b]);
                }
                else
                {
                    bytes.Write(utf8[..Encoding.UTF8.GetBytes([c], utf8)]);
                }
            }
        }
        return Encoding.UTF8.GetString(bytes.WrittenSpan).Replace(EndOfWord, " ", StringComparison.Ordinal).Trim();
    }

    private void EncodeContent(ReadOnlySpan<char> text, ref IdBuffer ids)
    {
        // Tokens registered with normalized=false are found in the raw text (SDXL tokenizer_2's "!").
        var position = 0;
        while (FindAdded(text, position, _rawAdded, _rawAddedStarts, out var start, out var end, out var id))
        {
            EncodeRawSegment(text[position..start], ref ids);
            ids.Add(id);
            position = end;
        }
        EncodeRawSegment(text[position..], ref ids);
    }

    private void EncodeRawSegment(ReadOnlySpan<char> segment, ref IdBuffer ids)
    {
        if (segment.IsEmpty)
        {
            return;
        }
        var buffer = ArrayPool<char>.Shared.Rent(Math.Max(2 * segment.Length, 16));
        try
        {
            var normalized = buffer.AsSpan(0, ClipText.Normalize(segment, ref buffer));
            var position = 0;
            while (FindAdded(normalized, position, _normalizedAdded, _normalizedAddedStarts, out var start, out var end, out var id))
            {
                EncodePieces(normalized[position..start], ref ids);
                ids.Add(id);
                position = end;
            }
            EncodePieces(normalized[position..], ref ids);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    private void EncodePieces(ReadOnlySpan<char> text, ref IdBuffer ids)
    {
        var position = 0;
        while (ClipText.NextPiece(text, ref position, out var start, out var length))
        {
            EncodeWord(text.Slice(start, length), ref ids);
        }
    }

    // Leftmost match; at one position the longest token (the arrays are sorted longest first).
    private static bool FindAdded(ReadOnlySpan<char> text, int from, AddedToken[] tokens, SearchValues<char> starts, out int start, out int end, out int id)
    {
        start = end = id = 0;
        if (tokens.Length == 0)
        {
            return false;
        }
        for (var i = from; i < text.Length; i++)
        {
            // Jump to the next character that can begin a token; most text has none.
            var next = text[i..].IndexOfAny(starts);
            if (next < 0)
            {
                return false;
            }
            i += next;
            foreach (var t in tokens)
            {
                var content = t.Content.AsSpan();
                if (!text[i..].StartsWith(content, StringComparison.Ordinal))
                {
                    continue;
                }
                var s = i;
                var e = i + content.Length;
                if (t.SingleWord && ((s > 0 && IsWordChar(text[s - 1])) || (e < text.Length && IsWordChar(text[e]))))
                {
                    continue;
                }
                if (t.LeftStrip)
                {
                    while (s > from && char.IsWhiteSpace(text[s - 1]))
                    {
                        s--;
                    }
                }
                if (t.RightStrip)
                {
                    while (e < text.Length && char.IsWhiteSpace(text[e]))
                    {
                        e++;
                    }
                }
                start = s;
                end = e;
                id = t.Id;
                return true;
            }
        }
        return false;
    }

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';

    private void EncodeWord(ReadOnlySpan<char> word, ref IdBuffer ids)
    {
        if (_cacheLookup.TryGetValue(word, out var cached))
        {
            ids.AddRange(cached);
            return;
        }

        var byteCount = Encoding.UTF8.GetByteCount(word);
        byte[]? rentedBytes = null;
        int[]? rentedSymbols = null;
        var bytes = byteCount <= StackWordLimit ? stackalloc byte[StackWordLimit] : (rentedBytes = ArrayPool<byte>.Shared.Rent(byteCount));
        var symbols = byteCount <= StackWordLimit ? stackalloc int[StackWordLimit] : (rentedSymbols = ArrayPool<int>.Shared.Rent(byteCount));
        try
        {
            Encoding.UTF8.GetBytes(word, bytes);
            for (var i = 0; i < byteCount - 1; i++)
            {
                symbols[i] = _byteIds[bytes[i]];
            }
            symbols[byteCount - 1] = _byteEndIds[bytes[byteCount - 1]];
            var count = ApplyMerges(symbols[..byteCount]);
            var result = symbols[..count];
            ids.AddRange(result);
            if (Volatile.Read(ref _cacheCount) < CacheCapacity && _cache.TryAdd(word.ToString(), result.ToArray()))
            {
                Interlocked.Increment(ref _cacheCount);
            }
        }
        finally
        {
            if (rentedBytes is not null)
            {
                ArrayPool<byte>.Shared.Return(rentedBytes);
            }
            if (rentedSymbols is not null)
            {
                ArrayPool<int>.Shared.Return(rentedSymbols);
            }
        }
    }

    /// <summary>
    /// Repeatedly merges the adjacent pair with the lowest rank, every occurrence left to right,
    /// until no adjacent pair has a merge. Returns the number of symbols left.
    /// </summary>
    private int ApplyMerges(Span<int> symbols)
    {
        var count = symbols.Length;
        while (count > 1)
        {
            var bestRank = int.MaxValue;
            var best = default(Merge);
            var bestAt = -1;
            for (var i = 0; i < count - 1; i++)
            {
                if (_merges.TryGetValue(PairKey(symbols[i], symbols[i + 1]), out var m) && m.Rank < bestRank)
                {
                    bestRank = m.Rank;
                    best = m;
                    bestAt = i;
                }
            }
            if (bestAt < 0)
            {
                break;
            }
            var left = symbols[bestAt];
            var right = symbols[bestAt + 1];
            var write = bestAt;
            var read = bestAt;
            while (read < count)
            {
                if (read < count - 1 && symbols[read] == left && symbols[read + 1] == right)
                {
                    symbols[write++] = best.Id;
                    read += 2;
                }
                else
                {
                    symbols[write++] = symbols[read++];
                }
            }
            count = write;
        }
        return count;
    }

    private static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;

    private static FrozenDictionary<string, int> ReadVocab(string path)
    {
        if (!File.Exists(path))
        {
            throw new TokenizerFormatException(path, "vocab.json is missing.");
        }
        var root = TokenizerConfigJson.ReadObject(path);
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in root.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id) || id < 0)
            {
                throw new TokenizerFormatException(path, $"token '{entry.Name}' maps to {entry.Value.GetRawText()}, expected a non-negative integer id.");
            }
            vocab[entry.Name] = id;
        }
        if (vocab.Count == 0)
        {
            throw new TokenizerFormatException(path, "vocab.json holds no tokens.");
        }
        return vocab.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static FrozenDictionary<long, Merge> ReadMerges(string path, string vocabPath, FrozenDictionary<string, int> vocab)
    {
        if (!File.Exists(path))
        {
            throw new TokenizerFormatException(path, "merges.txt is missing.");
        }
        var merges = new Dictionary<long, Merge>();
        var lineNumber = 0;
        var rank = 0;
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            lineNumber++;
            if ((lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal)) || line.Length == 0)
            {
                continue;
            }
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
            {
                throw new TokenizerFormatException(path, $"line {lineNumber} '{line}' is not two tokens separated by one space.");
            }
            var a = line[..space];
            var b = line[(space + 1)..];
            if (!vocab.TryGetValue(a, out var aId))
            {
                throw new TokenizerFormatException(path, $"line {lineNumber} '{line}': '{a}' is not in vocab.json ({vocabPath}).");
            }
            if (!vocab.TryGetValue(b, out var bId))
            {
                throw new TokenizerFormatException(path, $"line {lineNumber} '{line}': '{b}' is not in vocab.json ({vocabPath}).");
            }
            if (!vocab.TryGetValue(a + b, out var mergedId))
            {
                throw new TokenizerFormatException(path, $"line {lineNumber} '{line}': the merged token '{a + b}' is not in vocab.json ({vocabPath}).");
            }
            // A repeated pair keeps its first (best) rank, as HF does.
            merges.TryAdd(PairKey(aId, bId), new Merge(rank, mergedId));
            rank++;
        }
        return merges.ToFrozenDictionary();
    }

    private static bool GetBool(JsonElement obj, string name, bool fallback) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;

    /// <summary>A growable id list over a pooled array.</summary>
    private struct IdBuffer
    {
        private int[] _array;

        public IdBuffer(int capacity)
        {
            _array = ArrayPool<int>.Shared.Rent(capacity);
            Count = 0;
        }

        public int Count { get; private set; }

        public readonly ReadOnlySpan<int> Span => _array.AsSpan(0, Count);

        public void Clear() => Count = 0;

        public void Add(int id)
        {
            if (Count == _array.Length)
            {
                Grow(Count + 1);
            }
            _array[Count++] = id;
        }

        public void AddRange(ReadOnlySpan<int> ids)
        {
            if (Count + ids.Length > _array.Length)
            {
                Grow(Count + ids.Length);
            }
            ids.CopyTo(_array.AsSpan(Count));
            Count += ids.Length;
        }

        public void Dispose()
        {
            ArrayPool<int>.Shared.Return(_array);
            _array = [];
        }

        private void Grow(int needed)
        {
            var bigger = ArrayPool<int>.Shared.Rent(Math.Max(needed, 2 * _array.Length));
            _array.AsSpan(0, Count).CopyTo(bigger);
            ArrayPool<int>.Shared.Return(_array);
            _array = bigger;
        }
    }
}
