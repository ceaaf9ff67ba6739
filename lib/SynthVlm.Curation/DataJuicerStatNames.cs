namespace SynthVlm.Curation;

/// <summary>
/// The statistic keys exactly as Data-Juicer spells them (data_juicer/utils/constant.py, StatsKeys),
/// and the operator names that compute them; spelled once here and used by every writer of stats.
/// </summary>
public static class DataJuicerStatNames
{
    /// <summary>alphanumeric_filter, tokenization off.</summary>
    public const string AlnumRatio = "alnum_ratio";

    /// <summary>character_repetition_filter.</summary>
    public const string CharRepRatio = "char_rep_ratio";

    /// <summary>flagged_words_filter.</summary>
    public const string FlaggedWordsRatio = "flagged_words_ratio";

    /// <summary>perplexity_filter.</summary>
    public const string Perplexity = "perplexity";

    /// <summary>special_characters_filter.</summary>
    public const string SpecialCharRatio = "special_char_ratio";

    /// <summary>word_repetition_filter.</summary>
    public const string WordRepRatio = "word_rep_ratio";

    /// <summary>Operator name of the alphanumeric filter.</summary>
    public const string AlphanumericFilter = "alphanumeric_filter";

    /// <summary>Operator name of the character repetition filter.</summary>
    public const string CharacterRepetitionFilter = "character_repetition_filter";

    /// <summary>Operator name of the flagged words filter.</summary>
    public const string FlaggedWordsFilter = "flagged_words_filter";

    /// <summary>Operator name of the perplexity filter.</summary>
    public const string PerplexityFilter = "perplexity_filter";

    /// <summary>Operator name of the special characters filter.</summary>
    public const string SpecialCharactersFilter = "special_characters_filter";

    /// <summary>Operator name of the word repetition filter.</summary>
    public const string WordRepetitionFilter = "word_repetition_filter";
}
