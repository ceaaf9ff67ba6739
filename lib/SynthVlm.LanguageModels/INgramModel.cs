namespace SynthVlm.LanguageModels;

/// <summary>
/// A back-off n-gram language model that scores sentences as KenLM's Python binding does
/// (<c>kenlm.Model.score</c>): served by <see cref="ArpaModel"/> (ARPA text) and
/// <see cref="KenLmBinaryModel"/> (KenLM's binary format); <see cref="NgramModelLoader.Load"/>
/// picks one by the file's content. Implementations are thread-safe for scoring.
/// </summary>
public interface INgramModel
{
    /// <summary>The model order (highest n).</summary>
    int Order { get; }

    /// <summary>Number of n-grams per order (index 0 = unigrams).</summary>
    IReadOnlyList<long> Counts { get; }

    /// <summary>Number of distinct words, &lt;s&gt;, &lt;/s&gt; and &lt;unk&gt; included.</summary>
    int VocabularySize { get; }

    /// <summary>True when <paramref name="word"/> is in the vocabulary.</summary>
    bool Contains(string word);

    /// <summary>
    /// Total log10 probability of <paramref name="sentence"/> (words split on ASCII whitespace), as
    /// <c>kenlm.Model.score(sentence, bos, eos)</c>, summed in single precision like KenLM.
    /// </summary>
    double Score(string sentence, bool bos = true, bool eos = true);

    /// <summary><see cref="Score(string, bool, bool)"/> on a span.</summary>
    double Score(ReadOnlySpan<char> sentence, bool bos, bool eos);
}
