using System.Globalization;
using System.Numerics;
using System.Text;

namespace SynthVlm.LanguageModels;

/// <summary>
/// A back-off n-gram language model read from an ARPA file, scored as KenLM's Python binding
/// scores a sentence (<c>kenlm.pyx</c>, <c>Model.score</c>): words split on ASCII whitespace,
/// unknown words mapped to <c>&lt;unk&gt;</c>, each word's log10 probability taken from the longest
/// matching n-gram plus the back-off weights of the longer contexts (KenLM's
/// <c>GenericModel::FullScore</c>), all in single precision as KenLM stores and sums them.
/// Immutable and thread-safe after <see cref="Load"/>.
/// </summary>
/// <remarks>
/// Memory: words are interned once (vocabulary); n-grams of order 2 and up are stored only as a
/// 64-bit hash of their word ids in an open-addressing table sized from the <c>\data\</c> counts
/// (12 bytes of payload per n-gram), the same trade KenLM's probing model makes. When the ARPA
/// lacks <c>&lt;unk&gt;</c> it gets log10 probability -100, KenLM's default.
/// KenLM's binary formats (<c>.arpa.bin</c>, which Data-Juicer downloads) are read by
/// <see cref="KenLmBinaryModel"/>; <see cref="NgramModelLoader.Load"/> accepts either. Order-1 models score without the &lt;s&gt; back-off
/// (KenLM's behaviour there was not checked); positive log probabilities are kept as written.
/// </remarks>
public sealed class ArpaModel : INgramModel
{
    /// <summary>KenLM's substitute probability for an ARPA file without &lt;unk&gt;.</summary>
    public const float MissingUnknownLogProbability = -100f;

    private const int MaxOrder = 16;
    private readonly Dictionary<string, int> _vocabulary;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly float[] _unigramProb;
    private readonly float[] _unigramBackoff;
    private readonly NgramTable[] _tables;
    private readonly int _unknownId;
    private readonly int _bosId;
    private readonly int _eosId;

    private ArpaModel(Dictionary<string, int> vocabulary, float[] prob, float[] backoff, NgramTable[] tables, long[] counts)
    {
        _vocabulary = vocabulary;
        _lookup = vocabulary.GetAlternateLookup<ReadOnlySpan<char>>();
        _unigramProb = prob;
        _unigramBackoff = backoff;
        _tables = tables;
        Counts = counts;
        _unknownId = vocabulary[Unknown];
        _bosId = vocabulary[BeginSentence];
        _eosId = vocabulary[EndSentence];
    }

    private const string Unknown = "<unk>";
    private const string BeginSentence = "<s>";
    private const string EndSentence = "</s>";

    /// <summary>The model order (highest n).</summary>
    public int Order => Counts.Count;

    /// <summary>Number of n-grams per order as stored (index 0 = unigrams, &lt;unk&gt; included).</summary>
    public IReadOnlyList<long> Counts { get; }

    /// <summary>Number of distinct words, &lt;s&gt;, &lt;/s&gt; and &lt;unk&gt; included.</summary>
    public int VocabularySize => _vocabulary.Count;

    /// <summary>True when <paramref name="word"/> is in the vocabulary.</summary>
    public bool Contains(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        return _vocabulary.ContainsKey(word);
    }

    /// <summary>Reads an ARPA file (UTF-8).</summary>
    /// <exception cref="ArgumentException">The path is empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="LanguageModelFormatException">The file is not valid ARPA; the message names the line.</exception>
    public static ArpaModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"ARPA model '{path}' does not exist.", path);
        }
        using var reader = new StreamReader(path, new UTF8Encoding(false, true), false, 1 << 16);
        return Parse(reader, path);
    }

    /// <summary>Reads ARPA text from <paramref name="reader"/>; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="LanguageModelFormatException">The text is not valid ARPA; the message names the line.</exception>
    public static ArpaModel Parse(TextReader reader, string source)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(source);
        return new ArpaParser(reader, source).Run();
    }

    /// <summary>
    /// Total log10 probability of <paramref name="sentence"/>, as <c>kenlm.Model.score(sentence, bos, eos)</c>:
    /// with <paramref name="bos"/> the first word is scored after &lt;s&gt;, with <paramref name="eos"/>
    /// &lt;/s&gt; is scored after the last word. Summed in single precision like KenLM.
    /// </summary>
    public double Score(string sentence, bool bos = true, bool eos = true)
    {
        ArgumentNullException.ThrowIfNull(sentence);
        return Score(sentence.AsSpan(), bos, eos);
    }

    /// <summary>
    /// <see cref="Score(string, bool, bool)"/> on a span, so callers that cut lines out of a larger
    /// string score them without copying.
    /// </summary>
    public double Score(ReadOnlySpan<char> sentence, bool bos, bool eos)
    {
        Span<int> history = stackalloc int[MaxOrder];
        var length = 0;
        var maxContext = Order - 1;
        if (bos && maxContext > 0)
        {
            history[0] = _bosId;
            length = 1;
        }
        var total = 0f;
        var rest = sentence;
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
            var word = _lookup.TryGetValue(rest[start..end], out var id) ? id : _unknownId;
            total += WordScore(history[..length], word);
            length = Push(history, length, word, maxContext);
            rest = rest[end..];
        }
        if (eos)
        {
            total += WordScore(history[..length], _eosId);
        }
        return total;
    }

    /// <summary>log10 p(word | context) with KenLM's back-off; context is oldest-first.</summary>
    internal float WordScore(ReadOnlySpan<int> context, int word)
    {
        // Longest match over every context length. KenLM's ResumeScore stops at the first miss,
        // but its loaders first fill in the suffixes an SRI-pruned ARPA lacks ("e a" under
        // "d e a") with their backed-off probability, so the longest stored n-gram wins there
        // too; skipping misses here gives the same scores without storing those fillers.
        var prob = _unigramProb[word];
        var matched = 0;
        Span<int> ngram = stackalloc int[MaxOrder];
        for (var k = 1; k <= context.Length; k++)
        {
            var grams = ngram[..(k + 1)];
            context[^k..].CopyTo(grams);
            grams[k] = word;
            if (_tables[k + 1].TryGet(Hash(grams), out var p, out _))
            {
                prob = p;
                matched = k;
            }
        }
        // Back-offs of the contexts longer than the matched one, shortest first (FullScore's loop).
        for (var k = matched + 1; k <= context.Length; k++)
        {
            prob += Backoff(context[^k..]);
        }
        return prob;
    }

    private float Backoff(ReadOnlySpan<int> ngram)
    {
        if (ngram.Length == 1)
        {
            return _unigramBackoff[ngram[0]];
        }
        return _tables[ngram.Length].TryGet(Hash(ngram), out _, out var backoff) ? backoff : 0f;
    }

    private static int Push(Span<int> history, int length, int word, int maxContext)
    {
        if (maxContext == 0)
        {
            return 0;
        }
        if (length == maxContext)
        {
            history[1..length].CopyTo(history);
            length--;
        }
        history[length] = word;
        return length + 1;
    }

    // bytes.split() in Python (what kenlm.pyx calls): space, \t, \n, \r, \v, \f.
    private static bool IsAsciiSpace(char c) => c is ' ' or '\t' or '\n' or '\r' or '\v' or '\f';

    internal static ulong Hash(ReadOnlySpan<int> ids)
    {
        var h = 0x9E3779B97F4A7C15UL ^ (ulong)ids.Length;
        foreach (var id in ids)
        {
            h = BitOperations.RotateLeft((h ^ (uint)id) * 0xBF58476D1CE4E5B9UL, 31) * 0x94D049BB133111EBUL;
        }
        h ^= h >> 29;
        // 0 marks an empty slot.
        return h == 0 ? 1 : h;
    }

    /// <summary>Open-addressing table of (hash → prob, backoff), sized once from the declared count.</summary>
    internal sealed class NgramTable
    {
        private readonly ulong[] _keys;
        private readonly float[] _prob;
        private readonly float[] _backoff;
        private readonly int _mask;

        public NgramTable(long count)
        {
            var capacity = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(4, (count * 3 / 2) + 1));
            _keys = new ulong[capacity];
            _prob = new float[capacity];
            _backoff = new float[capacity];
            _mask = capacity - 1;
        }

        public bool TryAdd(ulong key, float prob, float backoff)
        {
            var i = (int)(key & (uint)_mask);
            while (_keys[i] != 0)
            {
                if (_keys[i] == key)
                {
                    return false;
                }
                i = (i + 1) & _mask;
            }
            _keys[i] = key;
            _prob[i] = prob;
            _backoff[i] = backoff;
            return true;
        }

        public bool TryGet(ulong key, out float prob, out float backoff)
        {
            var i = (int)(key & (uint)_mask);
            while (true)
            {
                var k = _keys[i];
                if (k == key)
                {
                    prob = _prob[i];
                    backoff = _backoff[i];
                    return true;
                }
                if (k == 0)
                {
                    prob = 0;
                    backoff = 0;
                    return false;
                }
                i = (i + 1) & _mask;
            }
        }
    }

    private sealed class ArpaParser(TextReader reader, string source)
    {
        private long _lineNumber;

        public ArpaModel Run()
        {
            var line = NextNonEmpty() ?? throw Error("the file is empty; expected \\data\\.");
            if (line.Trim() != "\\data\\")
            {
                throw Error($"expected \\data\\ but found '{Clip(line)}'.");
            }
            var counts = new List<long>();
            while ((line = NextNonEmpty()) is not null && line.StartsWith("ngram ", StringComparison.Ordinal))
            {
                var eq = line.IndexOf('=', StringComparison.Ordinal);
                if (eq < 0
                    || !int.TryParse(line.AsSpan(6, eq - 6).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
                    || !long.TryParse(line.AsSpan(eq + 1).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var count))
                {
                    throw Error($"expected 'ngram N=COUNT' but found '{Clip(line)}'.");
                }
                if (n != counts.Count + 1)
                {
                    throw Error($"expected the count of order {counts.Count + 1} but found order {n}.");
                }
                if (n > MaxOrder)
                {
                    throw Error($"order {n} exceeds the supported maximum {MaxOrder}.");
                }
                counts.Add(count);
            }
            if (counts.Count == 0)
            {
                throw Error("\\data\\ lists no 'ngram N=COUNT' lines.");
            }
            if (counts[0] == 0)
            {
                throw Error("the model declares no unigrams.");
            }
            var vocabulary = new Dictionary<string, int>(checked((int)counts[0] + 1), StringComparer.Ordinal);
            var lookup = vocabulary.GetAlternateLookup<ReadOnlySpan<char>>();
            var prob = new List<float>(checked((int)counts[0] + 1));
            var backoff = new List<float>(checked((int)counts[0] + 1));
            var tables = new NgramTable[counts.Count + 1];
            var ids = new int[MaxOrder];
            for (var n = 1; n <= counts.Count; n++)
            {
                if (n > 1)
                {
                    line = NextNonEmpty();
                }
                if (line is null || line.Trim() != $"\\{n}-grams:")
                {
                    throw Error($"expected \\{n}-grams: but found '{Clip(line ?? "end of file")}'.");
                }
                if (n > 1)
                {
                    tables[n] = new NgramTable(counts[n - 1]);
                }
                for (long i = 0; i < counts[n - 1]; i++)
                {
                    line = reader.ReadLine();
                    _lineNumber++;
                    if (line is null || line.Length == 0 || line[0] == '\\')
                    {
                        throw Error($"\\{n}-grams: declares {counts[n - 1]} entries but has only {i}.");
                    }
                    var fields = line.AsSpan();
                    var p = ParseFloat(NextField(ref fields), "log10 probability");
                    for (var w = 0; w < n; w++)
                    {
                        var word = NextField(ref fields);
                        if (word.IsEmpty)
                        {
                            throw Error($"a {n}-gram needs {n} words but this line has {w}.");
                        }
                        if (n == 1)
                        {
                            var s = word.ToString();
                            if (!vocabulary.TryAdd(s, vocabulary.Count))
                            {
                                throw Error($"duplicate unigram '{s}'.");
                            }
                            ids[0] = vocabulary.Count - 1;
                        }
                        else if (!lookup.TryGetValue(word, out ids[w]))
                        {
                            throw Error($"word '{word}' of this {n}-gram is not among the unigrams.");
                        }
                    }
                    var b = 0f;
                    var backoffField = NextField(ref fields);
                    if (!backoffField.IsEmpty)
                    {
                        b = ParseFloat(backoffField, "back-off weight");
                    }
                    if (!NextField(ref fields).IsEmpty)
                    {
                        throw Error($"unexpected text after the {n}-gram's back-off weight.");
                    }
                    if (n == 1)
                    {
                        prob.Add(p);
                        backoff.Add(b);
                    }
                    else if (!tables[n].TryAdd(Hash(ids.AsSpan(0, n)), p, b))
                    {
                        throw Error($"duplicate {n}-gram '{Clip(line)}'.");
                    }
                }
            }
            line = NextNonEmpty();
            if (line is null || line.Trim() != "\\end\\")
            {
                throw Error($"expected \\end\\ after the {counts.Count}-grams but found '{Clip(line ?? "end of file")}'.");
            }
            foreach (var required in new[] { BeginSentence, EndSentence })
            {
                if (!vocabulary.ContainsKey(required))
                {
                    throw new LanguageModelFormatException(source, null, $"the unigrams lack {required}.");
                }
            }
            if (vocabulary.TryAdd(Unknown, vocabulary.Count))
            {
                prob.Add(MissingUnknownLogProbability);
                backoff.Add(0f);
            }
            tables[0] = tables[1] = new NgramTable(0);
            var stored = counts.ToArray();
            stored[0] = vocabulary.Count;
            return new ArpaModel(vocabulary, [.. prob], [.. backoff], tables, stored);
        }

        private string? NextNonEmpty()
        {
            string? line;
            do
            {
                line = reader.ReadLine();
                _lineNumber++;
            }
            while (line is not null && string.IsNullOrWhiteSpace(line));
            return line;
        }

        private static ReadOnlySpan<char> NextField(ref ReadOnlySpan<char> rest)
        {
            var start = 0;
            while (start < rest.Length && rest[start] is ' ' or '\t')
            {
                start++;
            }
            var end = start;
            while (end < rest.Length && rest[end] is not (' ' or '\t'))
            {
                end++;
            }
            var field = rest[start..end];
            rest = rest[end..];
            return field;
        }

        private float ParseFloat(ReadOnlySpan<char> text, string what)
        {
            if (text.Equals("-inf", StringComparison.OrdinalIgnoreCase))
            {
                return float.NegativeInfinity;
            }
            if (!float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || float.IsNaN(value))
            {
                throw Error($"expected a {what} but found '{text}'.");
            }
            return value;
        }

        private LanguageModelFormatException Error(string problem) => new(source, _lineNumber, problem);

        private static string Clip(string line) => line.Length <= 80 ? line : string.Concat(line.AsSpan(0, 77), "...");
    }
}
