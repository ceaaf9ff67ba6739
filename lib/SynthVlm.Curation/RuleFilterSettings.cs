namespace SynthVlm.Curation;

/// <summary>
/// Parameters of the six rule filters. Defaults are DESIGN.md §1.1 (the SynthVLM paper's
/// appendix); bounds not set there keep Data-Juicer's operator defaults. Bounds are inclusive,
/// as Data-Juicer's get_keep_boolean is by default (min ≤ value ≤ max).
/// </summary>
public sealed record RuleFilterSettings
{
    /// <summary>alphanumeric_filter min_ratio (paper: 0.60).</summary>
    public double AlnumMinRatio { get; init; } = 0.60;

    /// <summary>alphanumeric_filter max_ratio (Data-Juicer's default is sys.maxsize: no bound).</summary>
    public double AlnumMaxRatio { get; init; } = double.PositiveInfinity;

    /// <summary>character_repetition_filter rep_len (paper: 10).</summary>
    public int CharRepLen { get; init; } = DataJuicerStatistics.DefaultRepLen;

    /// <summary>character_repetition_filter min_ratio (Data-Juicer default 0.0).</summary>
    public double CharRepMinRatio { get; init; }

    /// <summary>character_repetition_filter max_ratio (paper: 0.09373663).</summary>
    public double CharRepMaxRatio { get; init; } = 0.09373663;

    /// <summary>
    /// flagged_words_filter word list: a Data-Juicer flagged_words JSON or a one-word-per-line file.
    /// Null: the filter is reported skipped.
    /// </summary>
    public string? FlaggedWordsPath { get; init; }

    /// <summary>flagged_words_filter lang (paper: en); the key read from a JSON list.</summary>
    public string FlaggedWordsLanguage { get; init; } = "en";

    /// <summary>flagged_words_filter min_ratio (Data-Juicer default 0.0).</summary>
    public double FlaggedWordsMinRatio { get; init; }

    /// <summary>flagged_words_filter max_ratio (paper: 0.0, so one flagged word drops the caption).</summary>
    public double FlaggedWordsMaxRatio { get; init; }

    /// <summary>perplexity_filter max_ppl (paper: 5500).</summary>
    public double PerplexityMax { get; init; } = 5500;

    /// <summary>perplexity_filter KenLM model: ARPA text or KenLM binary (Data-Juicer's <c>{lang}.arpa.bin</c>), told apart by content.</summary>
    public string? PerplexityArpaPath { get; init; }

    /// <summary>perplexity_filter SentencePiece model (not evaluated yet: the filter is reported skipped).</summary>
    public string? PerplexitySentencePiecePath { get; init; }

    /// <summary>special_characters_filter min_ratio (paper: 0.16534802).</summary>
    public double SpecialCharMinRatio { get; init; } = 0.16534802;

    /// <summary>special_characters_filter max_ratio (paper: 0.42023757).</summary>
    public double SpecialCharMaxRatio { get; init; } = 0.42023757;

    /// <summary>word_repetition_filter rep_len (paper: 10).</summary>
    public int WordRepLen { get; init; } = DataJuicerStatistics.DefaultRepLen;

    /// <summary>word_repetition_filter min_ratio (Data-Juicer default 0.0).</summary>
    public double WordRepMinRatio { get; init; }

    /// <summary>word_repetition_filter max_ratio (paper: 0.03085751).</summary>
    public double WordRepMaxRatio { get; init; } = 0.03085751;

    /// <summary>
    /// Data-Juicer's text mappers run on each caption before the statistics (all off by default:
    /// the paper's curation filters captions as given; see <see cref="Cleaning.CaptionCleaningSettings"/>).
    /// </summary>
    public Cleaning.CaptionCleaningSettings Cleaning { get; init; } = SynthVlm.Curation.Cleaning.CaptionCleaningSettings.None;

    /// <summary>The paper's settings.</summary>
    public static RuleFilterSettings Default { get; } = new();

    /// <summary>
    /// Checks every field; throws <see cref="ArgumentException"/> whose ParamName is the field's name
    /// and whose message says what was found and what is allowed.
    /// </summary>
    public void Validate()
    {
        CheckRange(AlnumMinRatio, AlnumMaxRatio, nameof(AlnumMinRatio), nameof(AlnumMaxRatio));
        CheckRange(CharRepMinRatio, CharRepMaxRatio, nameof(CharRepMinRatio), nameof(CharRepMaxRatio));
        CheckRange(FlaggedWordsMinRatio, FlaggedWordsMaxRatio, nameof(FlaggedWordsMinRatio), nameof(FlaggedWordsMaxRatio));
        CheckRange(SpecialCharMinRatio, SpecialCharMaxRatio, nameof(SpecialCharMinRatio), nameof(SpecialCharMaxRatio));
        CheckRange(WordRepMinRatio, WordRepMaxRatio, nameof(WordRepMinRatio), nameof(WordRepMaxRatio));
        if (double.IsNaN(PerplexityMax) || PerplexityMax <= 0)
        {
            throw new ArgumentException($"{nameof(PerplexityMax)} must be a positive number; found {PerplexityMax}.", nameof(PerplexityMax));
        }
        CheckRepLen(CharRepLen, nameof(CharRepLen));
        CheckRepLen(WordRepLen, nameof(WordRepLen));
        if (string.IsNullOrWhiteSpace(FlaggedWordsLanguage))
        {
            throw new ArgumentException($"{nameof(FlaggedWordsLanguage)} must name a language key such as \"en\"; found '{FlaggedWordsLanguage}'.", nameof(FlaggedWordsLanguage));
        }
        CheckPath(FlaggedWordsPath, nameof(FlaggedWordsPath));
        CheckPath(PerplexityArpaPath, nameof(PerplexityArpaPath));
        CheckPath(PerplexitySentencePiecePath, nameof(PerplexitySentencePiecePath));
        if (Cleaning is null)
        {
            throw new ArgumentException($"{nameof(Cleaning)} must be a CaptionCleaningSettings (CaptionCleaningSettings.None for no cleaning); found null.", nameof(Cleaning));
        }
    }

    private static void CheckRange(double min, double max, string minName, string maxName)
    {
        if (double.IsNaN(min) || double.IsInfinity(min) || min < 0)
        {
            throw new ArgumentException($"{minName} must be a finite ratio ≥ 0; found {min}.", minName);
        }
        if (double.IsNaN(max) || max < 0)
        {
            throw new ArgumentException($"{maxName} must be a ratio ≥ 0 (or +∞ for no bound); found {max}.", maxName);
        }
        if (min > max)
        {
            throw new ArgumentException($"{minName} ({min}) must not exceed {maxName} ({max}).", minName);
        }
    }

    private static void CheckRepLen(int value, string name)
    {
        if (value < 1)
        {
            throw new ArgumentException($"{name} must be a positive n-gram length (Data-Juicer's PositiveInt); found {value}.", name);
        }
    }

    private static void CheckPath(string? path, string name)
    {
        if (path is not null && string.IsNullOrWhiteSpace(path))
        {
            throw new ArgumentException($"{name} must be null (filter skipped) or a file path; found an empty string.", name);
        }
    }
}
