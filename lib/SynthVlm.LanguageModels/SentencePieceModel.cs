using System.Buffers;
using System.Text;
using Google.Protobuf;
using SynthVlm.LanguageModels.Proto;

namespace SynthVlm.LanguageModels;

/// <summary>
/// A SentencePiece unigram model read from its serialized ModelProto (the <c>.model</c> file),
/// encoding text as sentencepiece 0.1.97's <c>SentencePieceProcessor.Encode</c> does: normalizer
/// (precompiled charsmap, extra-whitespace removal, dummy prefix, "▁" escaping), then the
/// unigram Viterbi of <c>unigram_model.cc</c> (<c>Model::EncodeOptimized</c>) with sentencepiece's
/// unknown handling (each character no piece covers becomes one unknown piece scored
/// <c>min_score - 10</c>). Immutable and thread-safe after <see cref="Load"/>.
/// </summary>
/// <remarks>
/// Covered and checked against sentencepiece 0.1.97 (about 200 texts, four models: identity,
/// nmt_nfkc, user-defined symbols with byte fallback, whitespace as suffix without extra-whitespace
/// removal): any normalization rule set compiled into the model's precompiled_charsmap (identity,
/// nmt_nfkc, nfkc_cf, custom TSV rules — the compiled trie itself is followed, so nmt_nfkc is exact,
/// not an approximation), extra-whitespace removal, dummy prefix, "▁" escaping, user-defined
/// symbols, byte fallback, and the merging of adjacent unknown pieces. Not covered: BPE/WORD/CHAR
/// models (rejected with <see cref="LanguageModelFormatException"/>), sampling and n-best
/// encodings, and text with unpaired UTF-16 surrogates (encoded as U+FFFD here; Python cannot pass
/// such strings to sentencepiece).
/// </remarks>
public sealed class SentencePieceModel
{
    private const int TypeNormal = 1;
    private const int TypeUnknown = 2;
    private const int TypeControl = 3;
    private const int TypeUserDefined = 4;
    private const int TypeUnused = 5;
    private const int TypeByte = 6;
    // unigram_model.h: kUnkPenalty.
    private const float UnknownPenalty = 10.0f;
    private static readonly byte[] SpaceSymbol = "\u2581"u8.ToArray();

    private readonly string[] _pieces;
    private readonly float[] _scores;
    private readonly int[] _types;
    private readonly Dictionary<string, int> _pieceIds;
    private readonly ByteTrie _trie;
    private readonly ByteTrie? _userDefined;
    private readonly CharsMapNormalizer? _charsMap;
    private readonly bool _addDummyPrefix;
    private readonly bool _removeExtraWhitespaces;
    private readonly bool _escapeWhitespaces;
    private readonly bool _treatWhitespaceAsSuffix;
    private readonly bool _byteFallback;
    private readonly float _minScore;
    private readonly float _maxScore;
    private readonly int[] _byteIds;

    private SentencePieceModel(ModelProto proto, string source)
    {
        var n = proto.Pieces.Count;
        if (n == 0)
        {
            throw new LanguageModelFormatException(source, null, "the model has no pieces.");
        }
        var trainer = proto.TrainerSpec ?? new TrainerSpec();
        if (trainer.ModelType != 1)
        {
            throw new LanguageModelFormatException(source, null, $"model_type is {trainer.ModelType}; only UNIGRAM (1) models are supported.");
        }
        _pieces = new string[n];
        _scores = new float[n];
        _types = new int[n];
        _pieceIds = new Dictionary<string, int>(n, StringComparer.Ordinal);
        _byteIds = new int[256];
        Array.Fill(_byteIds, -1);
        _minScore = float.MaxValue;
        // model_interface: max_score_ starts at FLT_MIN (the smallest positive float), not -FLT_MAX;
        // it only feeds the user-defined-symbol bonus, where that quirk is visible.
        _maxScore = BitConverter.Int32BitsToSingle(0x00800000);
        var trieEntries = new List<(byte[], int)>(n);
        var userDefined = new List<(byte[], int)>();
        UnknownId = -1;
        for (var i = 0; i < n; i++)
        {
            var p = proto.Pieces[i];
            var piece = p.Piece;
            var type = p.Type;
            if (piece.Length == 0)
            {
                throw new LanguageModelFormatException(source, null, $"piece {i} is empty.");
            }
            if (type is < TypeNormal or > TypeByte)
            {
                throw new LanguageModelFormatException(source, null, $"piece {i} ('{piece}') has type {type}; expected 1..6.");
            }
            if (!_pieceIds.TryAdd(piece, i))
            {
                throw new LanguageModelFormatException(source, null, $"piece '{piece}' appears twice (ids {_pieceIds[piece]} and {i}).");
            }
            _pieces[i] = piece;
            _scores[i] = p.Score;
            _types[i] = type;
            switch (type)
            {
                case TypeNormal:
                    _minScore = Math.Min(_minScore, p.Score);
                    _maxScore = Math.Max(_maxScore, p.Score);
                    trieEntries.Add((Encoding.UTF8.GetBytes(piece), i));
                    break;
                case TypeUserDefined:
                    trieEntries.Add((Encoding.UTF8.GetBytes(piece), i));
                    userDefined.Add((Encoding.UTF8.GetBytes(piece), i));
                    break;
                case TypeUnused:
                    trieEntries.Add((Encoding.UTF8.GetBytes(piece), i));
                    break;
                case TypeUnknown:
                    if (UnknownId >= 0)
                    {
                        throw new LanguageModelFormatException(source, null, $"pieces {UnknownId} and {i} are both UNKNOWN.");
                    }
                    UnknownId = i;
                    break;
                case TypeByte:
                    if (piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
                        && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out var value))
                    {
                        _byteIds[value] = i;
                    }
                    break;
                default:
                    break;
            }
        }
        if (UnknownId < 0)
        {
            throw new LanguageModelFormatException(source, null, "the model has no UNKNOWN piece.");
        }
        if (trainer.UnkId != UnknownId)
        {
            throw new LanguageModelFormatException(source, null, $"trainer_spec.unk_id is {trainer.UnkId} but the UNKNOWN piece has id {UnknownId}.");
        }
        BosId = trainer.BosId;
        EosId = trainer.EosId;
        _byteFallback = trainer.ByteFallback;
        _treatWhitespaceAsSuffix = trainer.TreatWhitespaceAsSuffix;
        _trie = new ByteTrie(trieEntries);
        _userDefined = userDefined.Count > 0 ? new ByteTrie(userDefined) : null;
        if (_minScore == float.MaxValue)
        {
            _minScore = 0;
        }

        var spec = proto.NormalizerSpec ?? new NormalizerSpec();
        NormalizerName = spec.Name;
        _addDummyPrefix = spec.AddDummyPrefix;
        _removeExtraWhitespaces = spec.RemoveExtraWhitespaces;
        _escapeWhitespaces = spec.EscapeWhitespaces;
        if (spec.PrecompiledCharsmap.Length > 0)
        {
            _charsMap = CharsMapNormalizer.Parse(spec.PrecompiledCharsmap.Span, source);
        }
    }

    /// <summary>Number of pieces (the vocabulary size; ids are 0..Count-1).</summary>
    public int Count => _pieces.Length;

    /// <summary>Id of the unknown piece.</summary>
    public int UnknownId { get; }

    /// <summary>Id of the begin-of-sentence piece from trainer_spec (-1 when disabled).</summary>
    public int BosId { get; }

    /// <summary>Id of the end-of-sentence piece from trainer_spec (-1 when disabled).</summary>
    public int EosId { get; }

    /// <summary>The normalizer_spec name the model was trained with (e.g. "nmt_nfkc", "identity").</summary>
    public string NormalizerName { get; }

    /// <summary>Reads a serialized ModelProto (a sentencepiece <c>.model</c> file).</summary>
    /// <exception cref="ArgumentException">The path is empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="LanguageModelFormatException">The file is not a usable unigram ModelProto.</exception>
    public static SentencePieceModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"SentencePiece model '{path}' does not exist.", path);
        }
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses a serialized ModelProto held in memory; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="LanguageModelFormatException">The bytes are not a usable unigram ModelProto.</exception>
    public static SentencePieceModel Parse(ReadOnlySpan<byte> data, string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        ModelProto proto;
        try
        {
            proto = ModelProto.Parser.ParseFrom(data);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new LanguageModelFormatException(source, null, $"not a SentencePiece ModelProto ({e.Message})", e);
        }
        return new SentencePieceModel(proto, source);
    }

    /// <summary>The piece string of <paramref name="id"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The id is not in 0..Count-1.</exception>
    public string IdToPiece(int id)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(id);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(id, _pieces.Length);
        return _pieces[id];
    }

    /// <summary>The id of <paramref name="piece"/>, or <see cref="UnknownId"/> when it is not in the vocabulary.</summary>
    public int PieceToId(string piece)
    {
        ArgumentNullException.ThrowIfNull(piece);
        return _pieceIds.TryGetValue(piece, out var id) ? id : UnknownId;
    }

    /// <summary>The normalized text sentencepiece encodes (with "▁" for spaces when escaping is on).</summary>
    public string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var buffer = new ArrayBufferWriter<byte>();
        NormalizeUtf8(text, buffer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Ids of the pieces of <paramref name="text"/>, as <c>sp.encode(text, out_type=int)</c>.</summary>
    public int[] EncodeAsIds(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<int>();
        Encode(text, (_, id) => result.Add(id));
        return [.. result];
    }

    /// <summary>Surface strings of the pieces of <paramref name="text"/>, as <c>sp.encode_as_pieces(text)</c>.</summary>
    public IReadOnlyList<string> EncodeAsPieces(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<string>();
        Encode(text, (surface, id) => result.Add(id == UnknownId || surface.Length == 0 ? surface.ToString() : _pieces[id]));
        return result;
    }

    private delegate void PieceSink(ReadOnlySpan<char> surface, int id);

    private void Encode(string text, PieceSink sink)
    {
        var buffer = new ArrayBufferWriter<byte>(Math.Max(16, text.Length * 2));
        NormalizeUtf8(text, buffer);
        var normalized = buffer.WrittenSpan;
        if (normalized.IsEmpty)
        {
            return;
        }
        var size = normalized.Length;
        var bestScore = ArrayPool<float>.Shared.Rent(size + 1);
        var startsAt = ArrayPool<int>.Shared.Rent(size + 1);
        var ids = ArrayPool<int>.Shared.Rent(size + 1);
        try
        {
            Viterbi(normalized, bestScore, startsAt, ids);
            Emit(normalized, startsAt, ids, sink);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(bestScore);
            ArrayPool<int>.Shared.Return(startsAt);
            ArrayPool<int>.Shared.Return(ids);
        }
    }

    // unigram_model.cc, Model::EncodeOptimized: best path per end byte, built on the fly.
    private void Viterbi(ReadOnlySpan<byte> text, float[] bestScore, int[] startsAt, int[] ids)
    {
        var size = text.Length;
        Array.Fill(startsAt, -1, 0, size + 1);
        bestScore[0] = 0;
        var unknownScore = _minScore - UnknownPenalty;
        var start = 0;
        while (start < size)
        {
            var tillHere = bestScore[start];
            var charLength = Math.Min(OneCharLength(text[start]), size - start);
            var hasSingleNode = false;
            var node = 0;
            for (var keyPos = start; keyPos < size;)
            {
                if (!_trie.TryStep(node, text[keyPos], out node))
                {
                    break;
                }
                keyPos++;
                var id = _trie.ValueAt(node);
                if (id < 0 || _types[id] == TypeUnused)
                {
                    continue;
                }
                var length = keyPos - start;
                // The C++ ternary mixes `length * max_score_ - 0.1` (double) with a float score,
                // so the candidate is computed in double and compared with the stored float.
                var score = _types[id] == TypeUserDefined ? (length * (double)_maxScore) - 0.1 : _scores[id];
                var candidate = score + tillHere;
                if (startsAt[keyPos] == -1 || candidate > bestScore[keyPos])
                {
                    bestScore[keyPos] = (float)candidate;
                    startsAt[keyPos] = start;
                    ids[keyPos] = id;
                }
                if (length == charLength)
                {
                    hasSingleNode = true;
                }
            }
            if (!hasSingleNode)
            {
                var end = start + charLength;
                var candidate = unknownScore + tillHere;
                if (startsAt[end] == -1 || candidate > bestScore[end])
                {
                    bestScore[end] = candidate;
                    startsAt[end] = start;
                    ids[end] = UnknownId;
                }
            }
            start += charLength;
        }
    }

    private void Emit(ReadOnlySpan<byte> text, int[] startsAt, int[] ids, PieceSink sink)
    {
        var path = new List<(int Start, int End, int Id)>();
        for (var end = text.Length; end > 0; end = startsAt[end])
        {
            // SentencePieceProcessor::PopulateSentencePieceText merges a run of adjacent unknown
            // pieces into one (the reference turns "中文字符" into a single <unk>).
            if (ids[end] == UnknownId && path.Count > 0 && path[^1].Id == UnknownId)
            {
                path[^1] = (startsAt[end], path[^1].End, UnknownId);
                continue;
            }
            path.Add((startsAt[end], end, ids[end]));
        }
        path.Reverse();
        var chars = ArrayPool<char>.Shared.Rent(Encoding.UTF8.GetMaxCharCount(text.Length));
        try
        {
            foreach (var (start, end, id) in path)
            {
                var surface = text[start..end];
                if (id == UnknownId && _byteFallback)
                {
                    foreach (var b in surface)
                    {
                        var byteId = _byteIds[b];
                        sink($"<0x{b:X2}>", byteId >= 0 ? byteId : UnknownId);
                    }
                    continue;
                }
                var count = Encoding.UTF8.GetChars(surface, chars);
                sink(chars.AsSpan(0, count), id);
            }
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }

    // normalizer.cc, Normalizer::Normalize (alignment bookkeeping left out).
    private void NormalizeUtf8(string text, ArrayBufferWriter<byte> output)
    {
        var rented = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            var input = rented.AsSpan(0, Encoding.UTF8.GetBytes(text, rented));
            if (_removeExtraWhitespaces)
            {
                while (!input.IsEmpty)
                {
                    var piece = NormalizePrefix(input, out var consumed);
                    if (!piece.SequenceEqual(" "u8))
                    {
                        break;
                    }
                    input = input[consumed..];
                }
            }
            if (input.IsEmpty)
            {
                return;
            }
            if (!_treatWhitespaceAsSuffix && _addDummyPrefix)
            {
                AddWhitespace(output);
            }
            var isPreviousSpace = _removeExtraWhitespaces;
            while (!input.IsEmpty)
            {
                var piece = NormalizePrefix(input, out var consumed);
                while (isPreviousSpace && !piece.IsEmpty && piece[0] == (byte)' ')
                {
                    piece = piece[1..];
                }
                if (!piece.IsEmpty)
                {
                    foreach (var b in piece)
                    {
                        if (_escapeWhitespaces && b == (byte)' ')
                        {
                            output.Write(SpaceSymbol);
                        }
                        else
                        {
                            output.GetSpan(1)[0] = b;
                            output.Advance(1);
                        }
                    }
                    isPreviousSpace = piece[^1] == (byte)' ';
                }
                input = input[consumed..];
                if (!_removeExtraWhitespaces)
                {
                    isPreviousSpace = false;
                }
            }
            if (_removeExtraWhitespaces)
            {
                ReadOnlySpan<byte> space = _escapeWhitespaces ? SpaceSymbol : " "u8;
                var written = output.WrittenSpan;
                var length = written.Length;
                while (length >= space.Length && written[(length - space.Length)..length].SequenceEqual(space))
                {
                    length -= space.Length;
                }
                if (length != written.Length)
                {
                    var kept = written[..length].ToArray();
                    output.Clear();
                    output.Write(kept);
                }
            }
            if (_treatWhitespaceAsSuffix && _addDummyPrefix)
            {
                AddWhitespace(output);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private void AddWhitespace(ArrayBufferWriter<byte> output) =>
        output.Write(_escapeWhitespaces ? SpaceSymbol : " "u8);

    // Normalizer::NormalizePrefix: user-defined symbols pass through untouched, then the longest
    // charsmap rule, else one UTF-8 character as is.
    private ReadOnlySpan<byte> NormalizePrefix(ReadOnlySpan<byte> input, out int consumed)
    {
        if (_userDefined is not null)
        {
            var length = _userDefined.LongestPrefix(input);
            if (length > 0)
            {
                consumed = length;
                return input[..length];
            }
        }
        if (_charsMap is not null && _charsMap.TryMatch(input, out var replacement, out consumed))
        {
            return replacement;
        }
        consumed = Math.Min(OneCharLength(input[0]), input.Length);
        return input[..consumed];
    }

    // string_util::OneCharLen: length of a UTF-8 sequence from its lead byte (1 for stray bytes).
    private static int OneCharLength(byte lead) => (lead >> 4) switch
    {
        < 0xC => 1,
        0xC or 0xD => 2,
        0xE => 3,
        _ => 4,
    };
}
