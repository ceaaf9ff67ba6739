using System.IO.MemoryMappedFiles;

namespace SynthVlm.LanguageModels;

/// <summary>A probability and back-off as KenLM hands them to the scorer.</summary>
internal readonly record struct KenLmWeights(float Prob, float Backoff);

/// <summary>Where a lookup stands: a hash (probing) or a range of the next order's records (trie).</summary>
internal struct KenLmNode
{
    public ulong A;
    public ulong B;
}

/// <summary>The vocabulary and n-gram lookups of one KenLM data structure, over the mapped file.</summary>
internal abstract class KenLmSearch(MemoryMappedViewAccessor view, string path)
{
    protected MemoryMappedViewAccessor View { get; } = view;

    protected string Path { get; } = path;

    /// <summary>Number of word ids, &lt;unk&gt; (id 0) included.</summary>
    public abstract int VocabularyBound { get; }

    /// <summary>The id of a word given as UTF-8 bytes; 0 (&lt;unk&gt;) when absent.</summary>
    public abstract int Index(ReadOnlySpan<byte> utf8);

    /// <summary>The unigram's weights; starts <paramref name="node"/> for longer n-grams ending in the word.</summary>
    public abstract KenLmWeights Unigram(int word, out KenLmNode node, out bool independentLeft, out ulong extend);

    /// <summary>Extends <paramref name="node"/> one word to the left in middle order <paramref name="orderMinus2"/> + 2.</summary>
    public abstract bool Middle(int orderMinus2, int word, ref KenLmNode node, out KenLmWeights weights, out bool independentLeft);

    /// <summary>The highest-order n-gram's probability, when stored.</summary>
    public abstract bool Longest(int word, KenLmNode node, out float prob);

    protected LanguageModelFormatException Error(string problem) => new(Path, null, problem);

    /// <summary>
    /// Checks that the file holds <paramref name="end"/> bytes of data and, when the header says so,
    /// the vocabulary words after them: <paramref name="words"/> NUL-terminated strings starting with &lt;unk&gt;.
    /// </summary>
    protected void CheckLength(KenLmBinaryHeader header, long end, long fileLength, long words)
    {
        if (fileLength < end)
        {
            throw Error($"the header declares {header.DataStructure} data ending at byte {end} but the file has {fileLength} bytes; it is truncated.");
        }
        if (!header.HasVocabulary)
        {
            return;
        }
        Span<byte> unk = stackalloc byte[6];
        if (fileLength < end + 6 || !ReadBytes(end, unk) || !unk.SequenceEqual("<unk>\0"u8))
        {
            throw Error($"expected the vocabulary words to start with '<unk>' at byte {end}; the file is truncated or was written by an incompatible build.");
        }
        long terminators = 0;
        for (var at = end; at < fileLength; at++)
        {
            if (View.ReadByte(at) == 0)
            {
                terminators++;
            }
        }
        if (terminators != words || View.ReadByte(fileLength - 1) != 0)
        {
            throw Error($"expected {words} vocabulary words after byte {end} but found {terminators}; the file is truncated or damaged.");
        }
    }

    private bool ReadBytes(long position, Span<byte> into)
    {
        for (var i = 0; i < into.Length; i++)
        {
            into[i] = View.ReadByte(position + i);
        }
        return true;
    }
}

/// <summary>
/// KenLM's probing data structure (<c>lm/search_hashed.*</c>, <c>lm/vocab.cc</c>): a vocabulary
/// hash table of (MurmurHash64A of the word, id), the unigram (prob, back-off) array indexed by id
/// (&lt;unk&gt; = 0), then per middle order a linear-probing table of (n-gram hash, prob, back-off)
/// and for the highest order one of (hash, prob). Table sizes follow from the counts and the probing
/// multiplier; the n-gram hash starts from the predicted word's id and folds in the context newest first.
/// </summary>
internal sealed class KenLmProbingSearch : KenLmSearch
{
    private readonly long _vocabStart;
    private readonly ulong _vocabBuckets;
    private readonly long _unigramStart;
    private readonly long[] _middleStart;
    private readonly ulong[] _middleBuckets;
    private readonly long _longestStart;
    private readonly ulong _longestBuckets;
    private readonly int _bound;

    public KenLmProbingSearch(MemoryMappedViewAccessor view, KenLmBinaryHeader header, string path, long fileLength)
        : base(view, path)
    {
        var counts = header.Counts;
        var multiplier = header.ProbingMultiplier;
        var position = header.Size;
        // ProbingVocabularyHeader {uint version; uint bound}, padded to 8.
        if (fileLength < position + 8)
        {
            throw Error($"the file ends at byte {fileLength}, before the vocabulary header at byte {position}; it is truncated.");
        }
        var vocabVersion = View.ReadUInt32(position);
        if (vocabVersion != 0)
        {
            throw Error($"the probing vocabulary has version {vocabVersion}; expected 0.");
        }
        var bound = View.ReadUInt32(position + 4);
        if (bound < 1 || bound > (ulong)counts[0] + 1)
        {
            throw Error($"the vocabulary declares {bound} words for {counts[0]} unigrams.");
        }
        _bound = (int)bound;
        _vocabStart = position + 8;
        _vocabBuckets = Buckets(counts[0], multiplier);
        position = _vocabStart + checked((long)_vocabBuckets * 12);
        _unigramStart = position;
        position += (counts[0] + 1) * 8;
        _middleStart = new long[Math.Max(0, counts.Count - 2)];
        _middleBuckets = new ulong[_middleStart.Length];
        for (var n = 0; n < _middleStart.Length; n++)
        {
            _middleStart[n] = position;
            _middleBuckets[n] = Buckets(counts[n + 1], multiplier);
            position += checked((long)_middleBuckets[n] * 16);
        }
        _longestStart = position;
        _longestBuckets = Buckets(counts[^1], multiplier);
        position += checked((long)_longestBuckets * 12);
        CheckLength(header, position, fileLength, _bound);
    }

    // util::ProbingHashTable::Size with DivMod: max(entries + 1, (uint64)(multiplier * (float)entries)) buckets.
    private static ulong Buckets(long entries, float multiplier) =>
        Math.Max((ulong)entries + 1, (ulong)(multiplier * (float)entries));

    public override int VocabularyBound => _bound;

    public override int Index(ReadOnlySpan<byte> utf8)
    {
        var key = KenLmBinaryModel.MurmurHash64A(utf8);
        return Find(_vocabStart, 12, _vocabBuckets, key, out var at) ? (int)View.ReadUInt32(at + 8) : 0;
    }

    public override KenLmWeights Unigram(int word, out KenLmNode node, out bool independentLeft, out ulong extend)
    {
        var at = _unigramStart + (8L * word);
        var prob = View.ReadSingle(at);
        node = new KenLmNode { A = (ulong)word };
        extend = (ulong)word;
        independentLeft = float.IsNegative(prob);
        return new KenLmWeights(ForceNegative(prob), View.ReadSingle(at + 4));
    }

    public override bool Middle(int orderMinus2, int word, ref KenLmNode node, out KenLmWeights weights, out bool independentLeft)
    {
        node.A = CombineWordHash(node.A, word);
        if (!Find(_middleStart[orderMinus2], 16, _middleBuckets[orderMinus2], node.A, out var at))
        {
            weights = default;
            independentLeft = true;
            return false;
        }
        var prob = View.ReadSingle(at + 8);
        independentLeft = float.IsNegative(prob);
        weights = new KenLmWeights(ForceNegative(prob), View.ReadSingle(at + 12));
        return true;
    }

    public override bool Longest(int word, KenLmNode node, out float prob)
    {
        if (!Find(_longestStart, 12, _longestBuckets, CombineWordHash(node.A, word), out var at))
        {
            prob = 0;
            return false;
        }
        prob = View.ReadSingle(at + 8);
        return true;
    }

    // detail::CombineWordHash in lm/search_hashed.hh.
    internal static ulong CombineWordHash(ulong current, int next) =>
        (current * 8978948897894561157UL) ^ ((ulong)(1L + (uint)next) * 17894857484156487943UL);

    private static float ForceNegative(float value) => BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(value) | 0x80000000u);

    // Linear probing from hash % buckets; key 0 marks an empty bucket.
    private bool Find(long start, int entrySize, ulong buckets, ulong key, out long at)
    {
        var i = key % buckets;
        for (ulong probes = 0; probes < buckets; probes++)
        {
            at = start + ((long)i * entrySize);
            var found = View.ReadUInt64(at);
            if (found == key)
            {
                return true;
            }
            if (found == 0)
            {
                return false;
            }
            i = i + 1 == buckets ? 0 : i + 1;
        }
        at = 0;
        return false;
    }
}

/// <summary>
/// KenLM's plain trie (<c>lm/search_trie.*</c>, <c>lm/trie.*</c>, without quantization or array
/// compression): a sorted vocabulary (count, then the sorted 64-bit word hashes; id = position + 1,
/// &lt;unk&gt; = 0), unigram records (prob, back-off, index of the first bigram) for count + 2 ids,
/// then per middle order a bit-packed array of [word id | 31-bit non-positive prob | 32-bit back-off |
/// index of the first child] and for the highest order [word id | 31-bit prob]. The children of an
/// n-gram are the records between its pointer and the next record's, sorted by word id; n-grams are
/// reached from the predicted word leftwards, so the context is matched newest first.
/// </summary>
internal sealed class KenLmTrieSearch : KenLmSearch
{
    private readonly long _vocabStart;
    private readonly long _vocabCount;
    private readonly long _unigramStart;
    private readonly BitArray[] _middles;
    private readonly BitArray _longest;

    public KenLmTrieSearch(MemoryMappedViewAccessor view, KenLmBinaryHeader header, string path, long fileLength)
        : base(view, path)
    {
        var counts = header.Counts;
        var position = header.Size;
        if (fileLength < position + 8)
        {
            throw Error($"the file ends at byte {fileLength}, before the vocabulary at byte {position}; it is truncated.");
        }
        _vocabCount = View.ReadInt64(position);
        if (_vocabCount < 0 || _vocabCount >= counts[0])
        {
            throw Error($"the sorted vocabulary declares {_vocabCount} words for {counts[0]} unigrams.");
        }
        _vocabStart = position + 8;
        position += 8 + (8 * counts[0]);
        _unigramStart = position;
        position += (counts[0] + 2) * 16;
        var maxVocab = (ulong)counts[0];
        _middles = new BitArray[counts.Count - 2];
        for (var n = 0; n < _middles.Length; n++)
        {
            var nextBits = RequiredBits((ulong)counts[n + 2]);
            _middles[n] = new BitArray(position, maxVocab, 63 + nextBits, nextBits);
            position += BaseSize((ulong)counts[n + 1], maxVocab, 63 + nextBits);
        }
        _longest = new BitArray(position, maxVocab, 31, 0);
        position += BaseSize((ulong)counts[^1], maxVocab, 31);
        CheckLength(header, position, fileLength, _vocabCount + 1);
    }

    public override int VocabularyBound => (int)(_vocabCount + 1);

    public override int Index(ReadOnlySpan<byte> utf8)
    {
        var key = KenLmBinaryModel.MurmurHash64A(utf8);
        long lo = 0;
        var hi = _vocabCount - 1;
        while (lo <= hi)
        {
            var mid = lo + ((hi - lo) / 2);
            var found = View.ReadUInt64(_vocabStart + (8 * mid));
            if (found == key)
            {
                return (int)(mid + 1);
            }
            if (found < key)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return 0;
    }

    public override KenLmWeights Unigram(int word, out KenLmNode node, out bool independentLeft, out ulong extend)
    {
        var at = _unigramStart + (16L * word);
        node = new KenLmNode { A = View.ReadUInt64(at + 8), B = View.ReadUInt64(at + 16 + 8) };
        independentLeft = node.A == node.B;
        extend = (ulong)word;
        return new KenLmWeights(View.ReadSingle(at), View.ReadSingle(at + 4));
    }

    public override bool Middle(int orderMinus2, int word, ref KenLmNode node, out KenLmWeights weights, out bool independentLeft)
    {
        var middle = _middles[orderMinus2];
        if (!Find(middle, node, word, out var index))
        {
            weights = default;
            independentLeft = true;
            return false;
        }
        var bit = (index * middle.TotalBits) + (ulong)middle.WordBits;
        var prob = NonPositiveFloat31(middle.Start, bit);
        var backoff = BitConverter.UInt32BitsToSingle((uint)ReadBits(middle.Start, bit + 31, 32));
        var mask = (1UL << middle.NextBits) - 1;
        node.A = ReadBits(middle.Start, bit + 63, 64) & mask;
        node.B = ReadBits(middle.Start, bit + 63 + middle.TotalBits, 64) & mask;
        independentLeft = node.A == node.B;
        weights = new KenLmWeights(prob, backoff);
        return true;
    }

    public override bool Longest(int word, KenLmNode node, out float prob)
    {
        if (!Find(_longest, node, word, out var index))
        {
            prob = 0;
            return false;
        }
        prob = NonPositiveFloat31(_longest.Start, (index * _longest.TotalBits) + (ulong)_longest.WordBits);
        return true;
    }

    // Records [node.A, node.B) are sorted by word id; any exact search finds what KenLM's
    // interpolation search finds.
    private bool Find(BitArray array, KenLmNode node, int word, out ulong index)
    {
        var key = (ulong)(uint)word;
        var wordMask = (1UL << array.WordBits) - 1;
        var lo = node.A;
        var hi = node.B;
        while (lo < hi)
        {
            var mid = lo + ((hi - lo) / 2);
            var found = ReadBits(array.Start, mid * array.TotalBits, 64) & wordMask;
            if (found == key)
            {
                index = mid;
                return true;
            }
            if (found < key)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        index = 0;
        return false;
    }

    // util::ReadOff: the little-endian uint64 at the bit's byte, shifted by the bit within it.
    private ulong ReadBits(long start, ulong bit, int length)
    {
        var value = View.ReadUInt64(start + (long)(bit >> 3)) >> (int)(bit & 7);
        return length >= 64 ? value : value & ((1UL << length) - 1);
    }

    private float NonPositiveFloat31(long start, ulong bit) =>
        BitConverter.UInt32BitsToSingle((uint)ReadBits(start, bit, 32) | 0x80000000u);

    // util::RequiredBits.
    private static int RequiredBits(ulong maxValue)
    {
        var bits = 0;
        while (maxValue != 0)
        {
            bits++;
            maxValue >>= 1;
        }
        return bits;
    }

    // BitPacked::BaseSize: one extra record for the end pointer, rounded to bytes, plus 8 bytes of slack.
    private static long BaseSize(ulong entries, ulong maxVocab, int remainingBits)
    {
        var totalBits = (ulong)(RequiredBits(maxVocab) + remainingBits);
        return checked((long)((((1 + entries) * totalBits) + 7) / 8) + 8);
    }

    private sealed class BitArray(long start, ulong maxVocab, int remainingBits, int nextBits)
    {
        public long Start { get; } = start;

        public int WordBits { get; } = RequiredBits(maxVocab);

        public ulong TotalBits { get; } = (ulong)(RequiredBits(maxVocab) + remainingBits);

        public int NextBits { get; } = nextBits;
    }
}
