using System.Buffers;
using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text;

namespace SynthVlm.LanguageModels;

/// <summary>
/// A KenLM binary language model (what <c>build_binary</c> writes and Data-Juicer downloads as
/// <c>{lang}.arpa.bin</c>), read in place from a memory-mapped file and scored exactly as KenLM's
/// Python binding does (<c>kenlm.Model.score</c> → <c>GenericModel::FullScore</c>): the state keeps
/// only the context words whose n-grams can be extended, each word's probability is that of the
/// longest stored n-gram, plus the back-offs of the longer contexts, all summed in single precision.
/// Reads the probing data structure (build_binary's default; CC-Net built its <c>{lang}.arpa.bin</c>
/// with it) and the plain trie; quantized (<c>-q</c>), array-compressed (<c>-a</c>) and rest-cost
/// (<c>-r</c>) files are refused with a message naming the option. Thread-safe for scoring;
/// dispose to unmap the file.
/// </summary>
/// <remarks>
/// KenLM quirks kept: words are identified by the 64-bit MurmurHash64A of their UTF-8 bytes only
/// (two words with the same hash are one word); "&lt;UNK&gt;" is the unknown word like "&lt;unk&gt;";
/// the stored probability of unigrams and middle n-grams carries KenLM's "independent left" flag in
/// its sign bit and is read with the sign forced negative; n-grams that an SRI-pruned ARPA lacks
/// were filled in by build_binary with the backed-off probability, so the binary can score
/// differently from a naive back-off over the ARPA (KenLM's own ARPA loading does the same filling).
/// Text is encoded as UTF-8 with replacement of lone surrogates (Python would raise).
/// </remarks>
public sealed class KenLmBinaryModel : INgramModel, IDisposable
{
    private const int MaxOrder = 16;
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly KenLmSearch _search;
    private readonly int _bosId;
    private readonly int _eosId;
    private readonly float _bosBackoff;

    private KenLmBinaryModel(string path, MemoryMappedFile file, MemoryMappedViewAccessor view, KenLmBinaryHeader header, KenLmSearch search)
    {
        FilePath = path;
        _file = file;
        _view = view;
        Header = header;
        _search = search;
        _bosId = search.Index("<s>"u8);
        _eosId = search.Index("</s>"u8);
        _bosBackoff = search.Unigram(_bosId, out _, out _, out _).Backoff;
    }

    /// <summary>The file the model was read from.</summary>
    public string FilePath { get; }

    /// <summary>The parsed header.</summary>
    public KenLmBinaryHeader Header { get; }

    /// <inheritdoc/>
    public int Order => Header.Order;

    /// <inheritdoc/>
    public IReadOnlyList<long> Counts => Header.Counts;

    /// <inheritdoc/>
    public int VocabularySize => _search.VocabularyBound;

    /// <inheritdoc/>
    public bool Contains(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        if (word is "<unk>" or "<UNK>")
        {
            return true;
        }
        return _search.Index(Encoding.UTF8.GetBytes(word)) != 0;
    }

    /// <summary>
    /// Opens and maps <paramref name="path"/>, checks its header and that the file holds the
    /// whole data structure the header declares.
    /// </summary>
    /// <exception cref="ArgumentException">The path is empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="LanguageModelFormatException">Not a KenLM binary, another version or
    /// architecture, an unsupported data structure (the message names the build_binary option) or a truncated file.</exception>
    public static KenLmBinaryModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"KenLM binary model '{path}' does not exist.", path);
        }
        var length = new FileInfo(path).Length;
        var head = new byte[(int)Math.Min(length, KenLmBinaryHeader.MaxSize)];
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            stream.ReadExactly(head);
        }
        var header = KenLmBinaryHeader.Parse(head, path);
        CheckSupported(header, path);
        var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        try
        {
            var view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            try
            {
                KenLmSearch search = header.DataStructure == KenLmDataStructure.Probing
                    ? new KenLmProbingSearch(view, header, path, length)
                    : new KenLmTrieSearch(view, header, path, length);
                return new KenLmBinaryModel(path, file, view, header, search);
            }
            catch
            {
                view.Dispose();
                throw;
            }
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static void CheckSupported(KenLmBinaryHeader header, string path)
    {
        string? refusal = header.DataStructure switch
        {
            KenLmDataStructure.RestProbing => "probing hash tables with rest costs (build_binary -r)",
            KenLmDataStructure.QuantizedTrie => "a trie with quantized weights (build_binary -q)",
            KenLmDataStructure.ArrayTrie => "a trie with array-compressed pointers (build_binary -a)",
            KenLmDataStructure.QuantizedArrayTrie => "a trie with quantized weights and array-compressed pointers (build_binary -q and -a)",
            _ => null,
        };
        if (refusal is not null)
        {
            throw new LanguageModelFormatException(path, null, $"the file holds {refusal}, which this reader does not read. Rebuild it from the ARPA without that option: 'build_binary model.arpa model.bin' (probing) or 'build_binary trie model.arpa model.bin', or pass the ARPA itself.");
        }
        var expectedVersion = header.DataStructure == KenLmDataStructure.Probing ? 0u : 1u;
        if (header.SearchVersion != expectedVersion)
        {
            throw new LanguageModelFormatException(path, null, $"the {header.DataStructure} data structure has version {header.SearchVersion}; expected {expectedVersion}. Rebuild it with a current build_binary.");
        }
        if (header.Order < 2 || header.Order > MaxOrder)
        {
            throw new LanguageModelFormatException(path, null, $"the header declares order {header.Order}; KenLM models have order 2 to {MaxOrder} here.");
        }
    }

    /// <inheritdoc/>
    public double Score(string sentence, bool bos = true, bool eos = true)
    {
        ArgumentNullException.ThrowIfNull(sentence);
        return Score(sentence.AsSpan(), bos, eos);
    }

    /// <inheritdoc/>
    public double Score(ReadOnlySpan<char> sentence, bool bos, bool eos)
    {
        var state = new State();
        if (bos)
        {
            state.Length = 1;
            state.Words[0] = _bosId;
            state.Backoff[0] = _bosBackoff;
        }
        var total = 0f;
        var rest = sentence;
        byte[]? rented = null;
        Span<byte> buffer = stackalloc byte[256];
        try
        {
            while (true)
            {
                var start = 0;
                while (start < rest.Length && IsAsciiSpace(rest[start]))
                {
                    start++;
                }
                if (start == rest.Length)
                {
                    break;
                }
                var end = start;
                while (end < rest.Length && !IsAsciiSpace(rest[end]))
                {
                    end++;
                }
                var word = rest[start..end];
                var needed = Encoding.UTF8.GetMaxByteCount(word.Length);
                if (needed > buffer.Length)
                {
                    if (rented is not null)
                    {
                        ArrayPool<byte>.Shared.Return(rented);
                    }
                    rented = ArrayPool<byte>.Shared.Rent(needed);
                    buffer = rented;
                }
                var written = Encoding.UTF8.GetBytes(word, buffer);
                total += FullScore(ref state, _search.Index(buffer[..written]));
                rest = rest[end..];
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
        if (eos)
        {
            total += FullScore(ref state, _eosId);
        }
        return total;
    }

    /// <summary>Per-word (vocabulary id, matched n-gram length, log10 prob) as KenLM's <c>query</c> prints them; for tests.</summary>
    internal List<(int Id, int NgramLength, float Prob)> ScoreWords(string sentence, bool bos, bool eos)
    {
        var state = new State();
        if (bos)
        {
            state.Length = 1;
            state.Words[0] = _bosId;
            state.Backoff[0] = _bosBackoff;
        }
        var result = new List<(int, int, float)>();
        foreach (var word in sentence.Split([' ', '\t', '\n', '\r', '\v', '\f'], StringSplitOptions.RemoveEmptyEntries))
        {
            var id = _search.Index(Encoding.UTF8.GetBytes(word));
            var prob = FullScore(ref state, id, out var length);
            result.Add((id, length, prob));
        }
        if (eos)
        {
            var prob = FullScore(ref state, _eosId, out var length);
            result.Add((_eosId, length, prob));
        }
        return result;
    }

    /// <summary>Scores one word by vocabulary id from a state, as <c>GenericModel::FullScore</c>; returns the prob and n-gram length.</summary>
    internal float FullScore(ref State state, int word) => FullScore(ref state, word, out _);

    internal float FullScore(ref State state, int word, out int ngramLength)
    {
        var next = new State();
        var uni = _search.Unigram(word, out var node, out var independentLeft, out _);
        var prob = uni.Prob;
        ngramLength = 1;
        next.Backoff[0] = uni.Backoff;
        next.Length = HasExtension(uni.Backoff) ? 1 : 0;
        next.Words[0] = word;
        if (state.Length > 0)
        {
            // ResumeScore: walk the context newest-first while the matched n-gram extends left.
            var order = Order;
            for (var k = 0; ; k++)
            {
                if (k == state.Length || independentLeft)
                {
                    break;
                }
                if (k == order - 2)
                {
                    if (_search.Longest(state.Words[k], node, out var longest))
                    {
                        prob = longest;
                        ngramLength = order;
                    }
                    break;
                }
                if (!_search.Middle(k, state.Words[k], ref node, out var weights, out independentLeft))
                {
                    break;
                }
                next.Backoff[k + 1] = weights.Backoff;
                prob = weights.Prob;
                ngramLength = k + 2;
                if (HasExtension(weights.Backoff))
                {
                    next.Length = ngramLength;
                }
            }
            // CopyRemainingHistory.
            for (var i = 1; i < next.Length; i++)
            {
                next.Words[i] = state.Words[i - 1];
            }
        }
        for (var i = ngramLength - 1; i < state.Length; i++)
        {
            prob += state.Backoff[i];
        }
        state = next;
        return prob;
    }

    // KenLM marks "this n-gram is never extended" with a back-off of -0.0 (kNoExtensionBackoff).
    private static bool HasExtension(float backoff) => BitConverter.SingleToUInt32Bits(backoff) != 0x80000000u;

    // kSpaces in KenLM / bytes.split() in Python: \t \n \v \f \r and space.
    private static bool IsAsciiSpace(char c) => c is ' ' or '\t' or '\n' or '\r' or '\v' or '\f';

    /// <summary>Unmaps the file.</summary>
    public void Dispose()
    {
        _view.Dispose();
        _file.Dispose();
    }

    /// <summary>KenLM's right state: context words newest first, their back-offs, and how many count.</summary>
    internal struct State
    {
        public WordBuffer Words;
        public FloatBuffer Backoff;
        public int Length;
    }

    [System.Runtime.CompilerServices.InlineArray(MaxOrder)]
    internal struct WordBuffer
    {
        private int _element;
    }

    [System.Runtime.CompilerServices.InlineArray(MaxOrder)]
    internal struct FloatBuffer
    {
        private float _element;
    }

    /// <summary>MurmurHash64A with seed 0, as KenLM hashes vocabulary words (<c>util/murmur_hash.cc</c>).</summary>
    internal static ulong MurmurHash64A(ReadOnlySpan<byte> data, ulong seed = 0)
    {
        const ulong m = 0xc6a4a7935bd1e995UL;
        const int r = 47;
        var h = seed ^ ((ulong)data.Length * m);
        var blocks = data.Length / 8;
        for (var i = 0; i < blocks; i++)
        {
            var k = BinaryPrimitives.ReadUInt64LittleEndian(data[(i * 8)..]);
            k *= m;
            k ^= k >> r;
            k *= m;
            h ^= k;
            h *= m;
        }
        var tail = data[(blocks * 8)..];
        if (tail.Length > 0)
        {
            for (var i = tail.Length - 1; i >= 0; i--)
            {
                h ^= (ulong)tail[i] << (8 * i);
            }
            h *= m;
        }
        h ^= h >> r;
        h *= m;
        h ^= h >> r;
        return h;
    }
}
