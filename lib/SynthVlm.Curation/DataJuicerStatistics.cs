using System.Buffers;
using System.Numerics;
using System.Text;

namespace SynthVlm.Curation;

/// <summary>
/// Data-Juicer's rule-filter statistics (tokenization off, lang en), computed on Python-string
/// semantics: lengths and n-grams count code points, character classes follow Python's
/// <c>str</c> methods, and a lone surrogate counts as one U+FFFD. Definitions (datajuicer/data-juicer):
/// <list type="bullet">
/// <item>alnum_ratio — ops/filter/alphanumeric_filter.py, AlphanumericFilter.compute_stats_batched:
/// <c>sum(c.isalnum()) / len(text)</c>, 0.0 for empty text.</item>
/// <item>char_rep_ratio — ops/filter/character_repetition_filter.py, CharacterRepetitionFilter.compute_stats_batched:
/// frequencies of all code-point n-grams; with D distinct n-grams of which S occur once,
/// k = min(int(sqrt(D)), D − S); ratio = (sum of the k largest frequencies) / (number of n-grams); 0.0 without n-grams.</item>
/// <item>word_rep_ratio — ops/filter/word_repetition_filter.py, WordRepetitionFilter.compute_stats_batched:
/// words = get_words_from_document (split on ' ', '\n', '\t', empties dropped), then
/// words_refinement (lower(), strip SPECIAL_CHARACTERS from both ends, empties dropped);
/// ratio = (sum of frequencies greater than 1) / (number of word n-grams); 0.0 without n-grams.</item>
/// <item>special_char_ratio — ops/filter/special_characters_filter.py, SpecialCharactersFilter.compute_stats_batched:
/// code points in SPECIAL_CHARACTERS (ops/common/special_characters.py) / len(text).</item>
/// <item>flagged_words_ratio — ops/filter/flagged_words_filter.py, FlaggedWordFilter.compute_stats_batched:
/// refined words (as for word_rep_ratio) found in the list / number of refined words, capped at 1.0.</item>
/// </list>
/// Helpers: ops/common/helper_func.py (split_on_whitespace, strip, words_refinement).
/// All methods are thread-safe and use pooled scratch memory only.
/// </summary>
public static class DataJuicerStatistics
{
    /// <summary>Data-Juicer's default and the paper's rep_len for both repetition filters.</summary>
    public const int DefaultRepLen = 10;

    /// <summary>Computes every statistic of <paramref name="text"/> in one pass over shared buffers.</summary>
    /// <param name="text">The caption; empty is allowed (every ratio is then 0.0).</param>
    /// <param name="charRepLen">Character n-gram length (≥ 1).</param>
    /// <param name="wordRepLen">Word n-gram length (≥ 1).</param>
    /// <param name="flaggedWords">The flagged-words list, or null to leave flagged_words_ratio null.</param>
    public static RuleStatistics Compute(string text, int charRepLen = DefaultRepLen, int wordRepLen = DefaultRepLen, FlaggedWordList? flaggedWords = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(charRepLen, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(wordRepLen, 1);
        var points = ArrayPool<int>.Shared.Rent(Math.Max(text.Length, 1));
        try
        {
            var n = PythonText.Decode(text, points, out var replaced);
            var cps = points.AsSpan(0, n);
            var alnum = 0;
            var special = 0;
            foreach (var c in cps)
            {
                alnum += PythonText.IsAlnum(c) ? 1 : 0;
                special += PythonText.IsSpecial(c) ? 1 : 0;
            }
            var charRep = CharRepRatio(cps, charRepLen);
            var words = new RefinedWords(cps);
            try
            {
                var wordRep = words.RepetitionRatio(wordRepLen);
                double? flagged = flaggedWords is null ? null : words.FlaggedRatio(flaggedWords);
                return new RuleStatistics(
                    AlnumRatio: n == 0 ? 0.0 : (double)alnum / n,
                    CharRepRatio: charRep,
                    FlaggedWordsRatio: flagged,
                    Perplexity: null,
                    SpecialCharRatio: n == 0 ? 0.0 : (double)special / n,
                    WordRepRatio: wordRep,
                    CodePoints: n,
                    Words: words.Count,
                    ReplacedCharacters: replaced);
            }
            finally
            {
                words.Dispose();
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(points);
        }
    }

    /// <summary>alnum_ratio of <paramref name="text"/>.</summary>
    public static double AlnumRatio(string text) => Compute(text).AlnumRatio;

    /// <summary>special_char_ratio of <paramref name="text"/>.</summary>
    public static double SpecialCharRatio(string text) => Compute(text).SpecialCharRatio;

    /// <summary>char_rep_ratio of <paramref name="text"/> at <paramref name="repLen"/>.</summary>
    public static double CharRepRatio(string text, int repLen = DefaultRepLen) => Compute(text, charRepLen: repLen).CharRepRatio;

    /// <summary>word_rep_ratio of <paramref name="text"/> at <paramref name="repLen"/>.</summary>
    public static double WordRepRatio(string text, int repLen = DefaultRepLen) => Compute(text, wordRepLen: repLen).WordRepRatio;

    /// <summary>flagged_words_ratio of <paramref name="text"/> against <paramref name="flaggedWords"/>.</summary>
    public static double FlaggedWordsRatio(string text, FlaggedWordList flaggedWords)
    {
        ArgumentNullException.ThrowIfNull(flaggedWords);
        return Compute(text, flaggedWords: flaggedWords).FlaggedWordsRatio!.Value;
    }

    /// <summary>
    /// The words word_repetition_filter and flagged_words_filter count: split on ' ', '\n', '\t',
    /// lower-cased as Python's <c>str.lower</c>, stripped of SPECIAL_CHARACTERS at both ends, empties dropped.
    /// </summary>
    public static IReadOnlyList<string> RefineWords(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var points = ArrayPool<int>.Shared.Rent(Math.Max(text.Length, 1));
        var words = new RefinedWords(points.AsSpan(0, PythonText.Decode(text, points, out _)));
        try
        {
            var list = new List<string>(words.Count);
            var sb = new StringBuilder();
            for (var i = 0; i < words.Count; i++)
            {
                sb.Clear();
                foreach (var cp in words.Word(i))
                {
                    sb.Append(new Rune(cp).ToString());
                }
                list.Add(sb.ToString());
            }
            return list;
        }
        finally
        {
            words.Dispose();
            ArrayPool<int>.Shared.Return(points);
        }
    }

    private static double CharRepRatio(ReadOnlySpan<int> cps, int n)
    {
        var table = new NGramTable(cps, n);
        try
        {
            var distinct = table.DistinctCount;
            if (distinct == 0)
            {
                return 0.0;
            }
            var freqs = ArrayPool<int>.Shared.Rent(distinct);
            try
            {
                table.CopyFrequencies(freqs);
                // Only frequencies above 1 can be among the k largest, since k ≤ D − S.
                var repeated = 0;
                for (var i = 0; i < distinct; i++)
                {
                    if (freqs[i] > 1)
                    {
                        freqs[repeated++] = freqs[i];
                    }
                }
                var k = Math.Min((int)Math.Sqrt(distinct), repeated);
                var top = freqs.AsSpan(0, repeated);
                top.Sort();
                long sum = 0;
                for (var i = repeated - k; i < repeated; i++)
                {
                    sum += top[i];
                }
                return (double)sum / table.WindowCount;
            }
            finally
            {
                ArrayPool<int>.Shared.Return(freqs);
            }
        }
        finally
        {
            table.Dispose();
        }
    }

    /// <summary>Refined words stored back to back in one pooled code-point buffer.</summary>
    private ref struct RefinedWords
    {
        private int[]? _buffer;
        private int[]? _starts;
        private int[]? _lengths;

        public RefinedWords(ReadOnlySpan<int> cps)
        {
            // str.lower() grows a code point into at most two here (U+0130 -> i + U+0307).
            _buffer = ArrayPool<int>.Shared.Rent(Math.Max(2 * cps.Length, 1));
            _starts = ArrayPool<int>.Shared.Rent(cps.Length / 2 + 1);
            _lengths = ArrayPool<int>.Shared.Rent(cps.Length / 2 + 1);
            var written = 0;
            var i = 0;
            while (i < cps.Length)
            {
                if (IsSeparator(cps[i]))
                {
                    i++;
                    continue;
                }
                var end = i;
                while (end < cps.Length && !IsSeparator(cps[end]))
                {
                    end++;
                }
                var lowered = PythonText.Lower(cps[i..end], _buffer.AsSpan(written));
                var start = written;
                var stop = written + lowered;
                while (start < stop && PythonText.IsSpecial(_buffer[start]))
                {
                    start++;
                }
                while (stop > start && PythonText.IsSpecial(_buffer[stop - 1]))
                {
                    stop--;
                }
                if (stop > start)
                {
                    _starts[Count] = start;
                    _lengths[Count] = stop - start;
                    Count++;
                }
                written += lowered;
                i = end;
            }
        }

        public int Count { get; private set; }

        public readonly ReadOnlySpan<int> Word(int index) => _buffer.AsSpan(_starts![index], _lengths![index]);

        public readonly double RepetitionRatio(int n)
        {
            if (Count < n)
            {
                return 0.0;
            }
            var ids = ArrayPool<int>.Shared.Rent(Count);
            try
            {
                AssignIds(ids);
                var table = new NGramTable(ids.AsSpan(0, Count), n);
                try
                {
                    // Frequencies above 1 sum to all n-grams minus those seen once.
                    return (double)(table.WindowCount - table.SingletonCount()) / table.WindowCount;
                }
                finally
                {
                    table.Dispose();
                }
            }
            finally
            {
                ArrayPool<int>.Shared.Return(ids);
            }
        }

        public readonly double FlaggedRatio(FlaggedWordList list)
        {
            if (Count == 0)
            {
                return 0.0;
            }
            var chars = ArrayPool<char>.Shared.Rent(64);
            try
            {
                var flagged = 0;
                for (var w = 0; w < Count; w++)
                {
                    var word = Word(w);
                    if (chars.Length < 2 * word.Length)
                    {
                        ArrayPool<char>.Shared.Return(chars);
                        chars = ArrayPool<char>.Shared.Rent(2 * word.Length);
                    }
                    var length = 0;
                    foreach (var cp in word)
                    {
                        length += new Rune(cp).EncodeToUtf16(chars.AsSpan(length));
                    }
                    flagged += list.Contains(chars.AsSpan(0, length)) ? 1 : 0;
                }
                return Math.Min(1.0, (double)flagged / Count);
            }
            finally
            {
                ArrayPool<char>.Shared.Return(chars);
            }
        }

        public void Dispose()
        {
            if (_buffer is not null)
            {
                ArrayPool<int>.Shared.Return(_buffer);
                ArrayPool<int>.Shared.Return(_starts!);
                ArrayPool<int>.Shared.Return(_lengths!);
                _buffer = _starts = _lengths = null;
            }
        }

        // Two words are one n-gram element iff their code points are equal; the joined string
        // Data-Juicer keys on cannot tell them apart otherwise because words never contain ' '.
        private readonly void AssignIds(Span<int> ids)
        {
            var size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, 2 * Count));
            var mask = size - 1;
            var slots = ArrayPool<int>.Shared.Rent(size);
            try
            {
                Array.Clear(slots, 0, size);
                for (var w = 0; w < Count; w++)
                {
                    var word = Word(w);
                    var slot = (int)NGramTable.Hash(word) & mask;
                    while (true)
                    {
                        var occupant = slots[slot];
                        if (occupant == 0)
                        {
                            slots[slot] = w + 1;
                            ids[w] = w;
                            break;
                        }
                        if (Word(occupant - 1).SequenceEqual(word))
                        {
                            ids[w] = occupant - 1;
                            break;
                        }
                        slot = (slot + 1) & mask;
                    }
                }
            }
            finally
            {
                ArrayPool<int>.Shared.Return(slots);
            }
        }

        private static bool IsSeparator(int cp) => cp is ' ' or '\n' or '\t';
    }
}
