using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace SynthVlm.Tokenizers;

/// <summary>
/// A LLaMA SentencePiece tokenizer (tokenizer.model) that gives the ids of Hugging Face's slow
/// <c>LlamaTokenizer</c> (<c>use_fast=False</c>, as LLaVA loads Vicuna). The SentencePiece BPE
/// itself is Microsoft.ML.Tokenizers' <see cref="LlamaTokenizer"/>; this class adds what
/// transformers does around it:
/// <list type="number">
/// <item>the text is split on the special and added tokens (<c>&lt;s&gt;</c>, <c>&lt;/s&gt;</c>,
/// <c>&lt;unk&gt;</c>, the pad token, added_tokens.json), leftmost first, longest at a position;
/// no whitespace around them is stripped; each becomes its id;</item>
/// <item><see cref="LlamaTokenizerOptions.Legacy"/> true: every text piece between them is encoded
/// as SentencePiece encodes a fresh string, dummy prefix "▁" included ("&lt;/s&gt;USER" -&gt;
/// [&lt;/s&gt;, ▁USER...]). Legacy false (transformers 4.35+): only the start of the text gets the
/// dummy prefix; a piece after a token is encoded without it ([&lt;/s&gt;, U, SER]); when the text
/// starts with a special token (bos, eos, unk, pad, additional_special_tokens) nothing comes
/// before it, when it starts with a non-special added token the lone "▁" stays in front;</item>
/// <item>BOS first when add_bos_token, EOS last when add_eos_token.</item>
/// </list>
/// Thread-safe after construction.
/// </summary>
public sealed class SentencePieceLlamaTokenizer
{
    private const char Underline = '\u2581';

    private readonly LlamaTokenizer _model;
    private readonly string?[] _idToPiece;
    private readonly Dictionary<string, int> _pieceToId;
    private readonly (string Token, int Id)[] _splitTokens; // longest first
    private readonly SearchValues<char> _splitStarts;
    private readonly Dictionary<int, string> _tokenById;
    private readonly HashSet<int> _specialIds;
    private readonly HashSet<string> _specialTokens;
    private readonly int _underlineId;

    private SentencePieceLlamaTokenizer(LlamaTokenizer model, string modelPath, LlamaTokenizerOptions options, string optionsSource)
    {
        _model = model;
        Options = options;
        ModelVocabularySize = 0;
        foreach (var id in model.Vocabulary.Values)
        {
            ModelVocabularySize = Math.Max(ModelVocabularySize, id + 1);
        }
        _pieceToId = new Dictionary<string, int>(model.Vocabulary, StringComparer.Ordinal);
        _tokenById = [];
        var tokens = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (content, id) in options.AddedTokens)
        {
            if (string.IsNullOrEmpty(content) || id < 0)
            {
                throw new TokenizerFormatException(optionsSource, $"added token '{content}' -> {id}: expected a non-empty token and a non-negative id.");
            }
            tokens[content] = id;
            _tokenById[id] = content;
        }
        VocabularySize = Math.Max(ModelVocabularySize, _tokenById.Count == 0 ? 0 : _tokenById.Keys.Max() + 1);
        _idToPiece = new string?[VocabularySize];
        foreach (var (piece, id) in model.Vocabulary)
        {
            _idToPiece[id] = piece;
        }
        foreach (var (id, content) in _tokenById)
        {
            _idToPiece[id] = content;
        }

        int Resolve(string role, string token)
        {
            if (tokens.TryGetValue(token, out var id) || _pieceToId.TryGetValue(token, out id))
            {
                tokens[token] = id;
                _tokenById[id] = token;
                return id;
            }
            throw new TokenizerFormatException(optionsSource,
                $"{role} '{token}' is neither a piece of {modelPath} nor an added token: a tokenizer whose special tokens do not match the model.");
        }

        UnkId = Resolve("unk_token", options.UnkToken);
        BosId = Resolve("bos_token", options.BosToken);
        EosId = Resolve("eos_token", options.EosToken);
        PadId = options.PadToken is null ? null : Resolve("pad_token", options.PadToken);
        _specialTokens = new HashSet<string>(StringComparer.Ordinal) { options.UnkToken, options.BosToken, options.EosToken };
        if (options.PadToken is not null)
        {
            _specialTokens.Add(options.PadToken);
        }
        foreach (var extra in options.AdditionalSpecialTokens)
        {
            Resolve("additional_special_tokens entry", extra);
            _specialTokens.Add(extra);
        }
        _specialIds = [.. _specialTokens.Select(t => tokens[t])];
        _splitTokens = [.. tokens.OrderByDescending(kv => kv.Key.Length).ThenBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, kv.Value))];
        _splitStarts = SearchValues.Create([.. tokens.Keys.Select(t => t[0]).Distinct()]);
        _underlineId = _pieceToId.TryGetValue(Underline.ToString(), out var u) ? u : -1;
    }

    /// <summary>The settings this tokenizer was made with.</summary>
    public LlamaTokenizerOptions Options { get; }

    /// <summary>The id of the beginning-of-sentence token.</summary>
    public int BosId { get; }

    /// <summary>The id of the end-of-sentence token.</summary>
    public int EosId { get; }

    /// <summary>The id of the unknown token.</summary>
    public int UnkId { get; }

    /// <summary>The id of the padding token, or null when the tokenizer has none.</summary>
    public int? PadId { get; }

    /// <summary>The number of ids: the model's pieces plus the added tokens (one more than the largest id).</summary>
    public int VocabularySize { get; }

    /// <summary>The number of pieces in tokenizer.model.</summary>
    public int ModelVocabularySize { get; }

    /// <summary>Whether the legacy (every piece gets the dummy prefix) encoding is used.</summary>
    public bool Legacy => Options.Legacy;

    /// <summary><c>model_max_length</c> of the tokenizer files, or null when unlimited.</summary>
    public int? ModelMaxLength => Options.ModelMaxLength;

    /// <summary>Reads tokenizer.model with the given settings (the slow tokenizer's defaults when null).</summary>
    /// <exception cref="TokenizerFormatException">The model cannot be read, or a special token is not in it.</exception>
    public static SentencePieceLlamaTokenizer FromFile(string tokenizerModelPath, LlamaTokenizerOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tokenizerModelPath);
        return Create(tokenizerModelPath, options ?? new LlamaTokenizerOptions(), "options for " + tokenizerModelPath);
    }

    /// <summary>
    /// Reads a Hugging Face LLaMA tokenizer folder: tokenizer.model plus, when present,
    /// tokenizer_config.json (add_bos_token, add_eos_token, legacy, model_max_length, the special
    /// tokens as strings or <c>{"content": ...}</c>, added_tokens_decoder),
    /// special_tokens_map.json and added_tokens.json (content -> id). tokenizer_config.json wins
    /// over special_tokens_map.json.
    /// </summary>
    /// <exception cref="TokenizerFormatException">A file is missing or malformed, or a special token
    /// is neither a model piece nor an added token; the message names the file and the token.</exception>
    public static SentencePieceLlamaTokenizer FromFolder(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Tokenizer folder '{folder}' does not exist.");
        }
        var modelPath = Path.Combine(folder, "tokenizer.model");
        var configPath = Path.Combine(folder, "tokenizer_config.json");
        var mapPath = Path.Combine(folder, "special_tokens_map.json");
        var addedPath = Path.Combine(folder, "added_tokens.json");
        JsonElement? config = File.Exists(configPath) ? TokenizerConfigJson.ReadObject(configPath) : null;
        JsonElement? map = File.Exists(mapPath) ? TokenizerConfigJson.ReadObject(mapPath) : null;

        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        if (File.Exists(addedPath))
        {
            foreach (var entry in TokenizerConfigJson.ReadObject(addedPath).EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id) || id < 0)
                {
                    throw new TokenizerFormatException(addedPath, $"token '{entry.Name}': expected a non-negative integer id, found {entry.Value.GetRawText()}.");
                }
                added[entry.Name] = id;
            }
        }
        if (config is { } c && c.TryGetProperty("added_tokens_decoder", out var decoder))
        {
            if (decoder.ValueKind != JsonValueKind.Object)
            {
                throw new TokenizerFormatException(configPath, "added_tokens_decoder must be an object of id -> token.");
            }
            foreach (var entry in decoder.EnumerateObject())
            {
                if (!int.TryParse(entry.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
                {
                    throw new TokenizerFormatException(configPath, $"added_tokens_decoder key '{entry.Name}' is not a non-negative integer id.");
                }
                if (entry.Value.ValueKind != JsonValueKind.Object || !entry.Value.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                {
                    throw new TokenizerFormatException(configPath, $"added_tokens_decoder[{id}] has no string \"content\".");
                }
                added[content.GetString()!] = id;
            }
        }

        var defaults = new LlamaTokenizerOptions();
        var options = new LlamaTokenizerOptions
        {
            BosToken = TokenizerConfigJson.SpecialToken(config, map, "bos_token") ?? defaults.BosToken,
            EosToken = TokenizerConfigJson.SpecialToken(config, map, "eos_token") ?? defaults.EosToken,
            UnkToken = TokenizerConfigJson.SpecialToken(config, map, "unk_token") ?? defaults.UnkToken,
            PadToken = TokenizerConfigJson.SpecialToken(config, map, "pad_token"),
            AddBosToken = GetBool(config, "add_bos_token", defaults.AddBosToken),
            AddEosToken = GetBool(config, "add_eos_token", defaults.AddEosToken),
            Legacy = GetBool(config, "legacy", defaults.Legacy),
            ModelMaxLength = config is { } cfg && cfg.TryGetProperty("model_max_length", out var mml)
                && mml.ValueKind == JsonValueKind.Number && mml.TryGetInt32(out var max) && max > 0 ? max : null,
            AddedTokens = added,
            AdditionalSpecialTokens = AdditionalSpecial(config, map),
        };
        var source = File.Exists(configPath) ? configPath : File.Exists(mapPath) ? mapPath : folder;
        return Create(modelPath, options, source);
    }

    /// <summary>
    /// The ids of <paramref name="text"/> as the slow LlamaTokenizer gives them
    /// (<c>tokenizer(text, add_special_tokens=...).input_ids</c>); see the class remarks.
    /// Empty text gives just BOS (when add_bos_token).
    /// </summary>
    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 2 + 2);
        if (addSpecialTokens && Options.AddBosToken)
        {
            ids.Add(BosId);
        }
        EncodeCore(text, ids);
        if (addSpecialTokens && Options.AddEosToken)
        {
            ids.Add(EosId);
        }
        return [.. ids];
    }

    /// <summary>
    /// The text of <paramref name="ids"/>: each run of model pieces as SentencePiece decodes it
    /// ("▁" -> space, byte pieces -> UTF-8, invalid bytes -> U+FFFD), each added or special token as
    /// its content (special ones left out when <paramref name="skipSpecialTokens"/>), joined with
    /// nothing between. The dummy prefix is removed at the start of the text and, for a legacy
    /// tokenizer, at the start of every run after a token, so decoding undoes <see cref="Encode"/>.
    /// Unlike transformers' decode, no space is put around added tokens.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is negative or not below <see cref="VocabularySize"/>.</exception>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new StringBuilder();
        var bytes = new List<byte>();
        var runStart = true;
        void FlushBytes()
        {
            if (bytes.Count > 0)
            {
                text.Append(Encoding.UTF8.GetString([.. bytes]));
                bytes.Clear();
            }
        }
        foreach (var id in ids)
        {
            if ((uint)id >= (uint)VocabularySize || _idToPiece[id] is not { } piece)
            {
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"id {id} is not a token of this tokenizer (0..{VocabularySize - 1}).");
            }
            if (_tokenById.ContainsKey(id))
            {
                FlushBytes();
                if (!(skipSpecialTokens && _specialIds.Contains(id)))
                {
                    text.Append(piece);
                }
                runStart = Options.Legacy || text.Length == 0;
                continue;
            }
            if (TryByte(piece, out var b))
            {
                bytes.Add(b);
                runStart = false;
                continue;
            }
            FlushBytes();
            var s = piece.Replace(Underline, ' ');
            if (runStart && s.Length > 0 && s[0] == ' ')
            {
                s = s[1..];
            }
            runStart = false;
            text.Append(s);
        }
        FlushBytes();
        return text.ToString();
    }

    /// <summary>The id of a model piece or added token, or null.</summary>
    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        foreach (var (t, id) in _splitTokens)
        {
            if (t == token)
            {
                return id;
            }
        }
        return _pieceToId.TryGetValue(token, out var pieceId) ? pieceId : null;
    }

    /// <summary>The model piece or added token of an id, or null when out of range.</summary>
    public string? IdToToken(int id) => (uint)id < (uint)_idToPiece.Length ? _idToPiece[id] : null;

    /// <summary>The model pieces or added tokens of <paramref name="ids"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is not a token.</exception>
    public string[] IdsToTokens(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        return [.. ids.Select(id => IdToToken(id) ?? throw new ArgumentOutOfRangeException(nameof(ids), id, $"id {id} is not a token of this tokenizer."))];
    }

    private void EncodeCore(string text, List<int> ids)
    {
        if (text.Length == 0)
        {
            return;
        }
        var first = true;
        var start = 0;
        var pos = 0;
        var startsWithSpecial = false;
        while (pos < text.Length)
        {
            var next = text.AsSpan(pos).IndexOfAny(_splitStarts);
            if (next < 0)
            {
                break;
            }
            pos += next;
            var match = MatchAt(text, pos);
            if (match < 0)
            {
                pos++;
                continue;
            }
            var (token, id) = _splitTokens[match];
            if (pos > start)
            {
                EncodePiece(text.AsSpan(start, pos - start), first, ids);
            }
            else if (first && !Options.Legacy)
            {
                // transformers puts "▁" before the whole text: before a leading token it is a
                // piece of its own, dropped only when the token is special.
                startsWithSpecial = _specialTokens.Contains(token);
                if (!startsWithSpecial)
                {
                    EncodePiece([], true, ids);
                }
            }
            first = false;
            ids.Add(id);
            pos += token.Length;
            start = pos;
        }
        if (start < text.Length)
        {
            EncodePiece(text.AsSpan(start), first, ids);
        }
    }

    private int MatchAt(string text, int pos)
    {
        var rest = text.AsSpan(pos);
        for (var i = 0; i < _splitTokens.Length; i++)
        {
            if (rest.StartsWith(_splitTokens[i].Token, StringComparison.Ordinal))
            {
                return i;
            }
        }
        return -1;
    }

    // One text piece: SentencePiece's own normalisation (identity rules, whitespace escaped as "▁")
    // is done here so the dummy prefix can be chosen per piece.
    private void EncodePiece(ReadOnlySpan<char> piece, bool first, List<int> ids)
    {
        var dummyPrefix = Options.Legacy || first;
        var normalized = string.Create(piece.Length + (dummyPrefix ? 1 : 0), (dummyPrefix, piece.ToString()), static (span, state) =>
        {
            var offset = 0;
            if (state.dummyPrefix)
            {
                span[0] = Underline;
                offset = 1;
            }
            for (var i = 0; i < state.Item2.Length; i++)
            {
                var ch = state.Item2[i];
                span[offset + i] = ch == ' ' ? Underline : ch;
            }
        });
        if (normalized.Length == 0)
        {
            return;
        }
        if (normalized.Length == 1 && normalized[0] == Underline && _underlineId >= 0)
        {
            ids.Add(_underlineId);
            return;
        }
        ids.AddRange(_model.EncodeToIds(normalized, addBeginningOfSentence: false, addEndOfSentence: false, considerPreTokenization: false, considerNormalization: false));
    }

    private static bool TryByte(string piece, out byte value)
    {
        value = 0;
        return piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    private static SentencePieceLlamaTokenizer Create(string modelPath, LlamaTokenizerOptions options, string optionsSource)
    {
        if (!File.Exists(modelPath))
        {
            throw new TokenizerFormatException(modelPath, "tokenizer.model is missing.");
        }
        LlamaTokenizer model;
        try
        {
            using var stream = File.OpenRead(modelPath);
            model = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception ex) when (ex is not IOException and not UnauthorizedAccessException)
        {
            throw new TokenizerFormatException(modelPath, $"not a SentencePiece BPE model: {ex.Message}", ex);
        }
        return new SentencePieceLlamaTokenizer(model, modelPath, options, optionsSource);
    }

    private static bool GetBool(JsonElement? obj, string name, bool fallback) =>
        obj is { } o && o.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;

    private static string[] AdditionalSpecial(JsonElement? config, JsonElement? map)
    {
        foreach (var source in (ReadOnlySpan<JsonElement?>)[config, map])
        {
            if (source is { } obj && obj.TryGetProperty("additional_special_tokens", out var list) && list.ValueKind == JsonValueKind.Array)
            {
                return [.. list.EnumerateArray()
                    .Select(v => v.ValueKind == JsonValueKind.String ? v.GetString()
                        : v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) ? c.GetString() : null)
                    .OfType<string>()];
            }
        }
        return [];
    }
}
