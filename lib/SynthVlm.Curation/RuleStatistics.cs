namespace SynthVlm.Curation;

/// <summary>
/// Every rule-filter statistic of one text, under Data-Juicer's meaning (see
/// <see cref="DataJuicerStatistics"/>), plus counts of our own for the record.
/// </summary>
/// <param name="AlnumRatio">alnum_ratio: alphanumeric code points / all code points (0 for empty text).</param>
/// <param name="CharRepRatio">char_rep_ratio at the configured rep_len.</param>
/// <param name="FlaggedWordsRatio">flagged_words_ratio, or null when no word list was given.</param>
/// <param name="Perplexity">perplexity, or null while no language model is given.</param>
/// <param name="SpecialCharRatio">special_char_ratio: SPECIAL_CHARACTERS code points / all code points.</param>
/// <param name="WordRepRatio">word_rep_ratio at the configured rep_len.</param>
/// <param name="CodePoints">Length of the text in code points (Python's <c>len</c>).</param>
/// <param name="Words">Number of refined words (split, lower-cased, stripped, empties dropped).</param>
/// <param name="ReplacedCharacters">Lone UTF-16 surrogates that were read as U+FFFD.</param>
public readonly record struct RuleStatistics(
    double AlnumRatio,
    double CharRepRatio,
    double? FlaggedWordsRatio,
    double? Perplexity,
    double SpecialCharRatio,
    double WordRepRatio,
    int CodePoints,
    int Words,
    int ReplacedCharacters)
{
    /// <summary>
    /// The six Data-Juicer statistics under their stats keys, in Data-Juicer's order (alphabetical),
    /// for writers of stats.jsonl; null marks a statistic whose filter was skipped.
    /// </summary>
    public KeyValuePair<string, double?>[] NamedValues() =>
    [
        new(DataJuicerStatNames.AlnumRatio, AlnumRatio),
        new(DataJuicerStatNames.CharRepRatio, CharRepRatio),
        new(DataJuicerStatNames.FlaggedWordsRatio, FlaggedWordsRatio),
        new(DataJuicerStatNames.Perplexity, Perplexity),
        new(DataJuicerStatNames.SpecialCharRatio, SpecialCharRatio),
        new(DataJuicerStatNames.WordRepRatio, WordRepRatio),
    ];
}
