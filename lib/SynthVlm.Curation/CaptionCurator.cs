using System.Globalization;

namespace SynthVlm.Curation;

/// <summary>
/// Runs Data-Juicer's six rule filters over captions. Immutable after construction, so one
/// instance serves any number of threads; each call uses pooled scratch memory only.
/// </summary>
public sealed class CaptionCurator
{
    /// <summary>Why perplexity_filter is skipped when its models are not configured.</summary>
    public const string PerplexitySkipReason = "skipped: needs KenLM ARPA + SentencePiece model files (PerplexityArpaPath, PerplexitySentencePiecePath)";

    /// <summary>Why flagged_words_filter is skipped when no list is configured.</summary>
    public const string FlaggedWordsSkipReason = "skipped: needs a flagged-words list file (FlaggedWordsPath)";

    private readonly FlaggedWordList? _flaggedWords;
    private readonly LanguageModels.PerplexityScorer? _perplexity;
    private readonly Cleaning.CaptionCleaner? _cleaner;

    /// <summary>Creates a curator; loads the flagged-words list when the settings name one.</summary>
    /// <exception cref="ArgumentException">A setting is out of range (ParamName names it).</exception>
    /// <exception cref="FileNotFoundException">FlaggedWordsPath does not exist.</exception>
    /// <exception cref="InvalidDataException">The flagged-words file is malformed.</exception>
    public CaptionCurator(RuleFilterSettings settings)
        : this(settings, settings?.FlaggedWordsPath is { } path ? FlaggedWordList.Load(path, settings.FlaggedWordsLanguage) : null)
    {
    }

    /// <summary>Creates a curator with a flagged-words list already in memory (overrides FlaggedWordsPath).</summary>
    public CaptionCurator(RuleFilterSettings settings, FlaggedWordList? flaggedWords)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        Settings = settings;
        _flaggedWords = flaggedWords;
        _cleaner = settings.Cleaning.Any ? new Cleaning.CaptionCleaner(settings.Cleaning) : null;
        if (settings.PerplexityArpaPath is { } arpa && settings.PerplexitySentencePiecePath is { } pieces)
        {
            // Data-Juicer's perplexity_filter: SentencePiece pieces scored by a KenLM model.
            _perplexity = new LanguageModels.PerplexityScorer(LanguageModels.SentencePieceModel.Load(pieces), LanguageModels.NgramModelLoader.Load(arpa));
        }
        else if (settings.PerplexityArpaPath is not null || settings.PerplexitySentencePiecePath is not null)
        {
            throw new ArgumentException("perplexity needs both PerplexityArpaPath and PerplexitySentencePiecePath.", settings.PerplexityArpaPath is null ? nameof(RuleFilterSettings.PerplexityArpaPath) : nameof(RuleFilterSettings.PerplexitySentencePiecePath));
        }
    }

    /// <summary>The settings in force.</summary>
    public RuleFilterSettings Settings { get; }

    /// <summary>
    /// Cleans <paramref name="text"/> with the mappers the settings switch on (none by default), then
    /// computes every statistic of the cleaned text and every filter's verdict.
    /// </summary>
    /// <param name="text">Any string: empty, whitespace-only, huge, control characters and lone surrogates all yield defined statistics.</param>
    public CurationResult Evaluate(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var cleaned = _cleaner?.Clean(text);
        if (cleaned is not null)
        {
            text = cleaned.Text;
        }
        var s = Settings;
        var stats = DataJuicerStatistics.Compute(text, s.CharRepLen, s.WordRepLen, _flaggedWords);
        if (_perplexity is not null)
        {
            stats = stats with { Perplexity = _perplexity.Perplexity(text) };
        }
        var verdicts = new FilterVerdict[]
        {
            Judge(DataJuicerStatNames.AlphanumericFilter, DataJuicerStatNames.AlnumRatio, stats.AlnumRatio, s.AlnumMinRatio, s.AlnumMaxRatio),
            Judge(DataJuicerStatNames.CharacterRepetitionFilter, DataJuicerStatNames.CharRepRatio, stats.CharRepRatio, s.CharRepMinRatio, s.CharRepMaxRatio),
            stats.FlaggedWordsRatio is { } flagged
                ? Judge(DataJuicerStatNames.FlaggedWordsFilter, DataJuicerStatNames.FlaggedWordsRatio, flagged, s.FlaggedWordsMinRatio, s.FlaggedWordsMaxRatio)
                : new FilterVerdict(DataJuicerStatNames.FlaggedWordsFilter, DataJuicerStatNames.FlaggedWordsRatio, VerdictOutcome.Skipped, null, s.FlaggedWordsMinRatio, s.FlaggedWordsMaxRatio, FlaggedWordsSkipReason),
            _perplexity is null
                ? new FilterVerdict(DataJuicerStatNames.PerplexityFilter, DataJuicerStatNames.Perplexity, VerdictOutcome.Skipped, null, 0, s.PerplexityMax, PerplexitySkipReason)
                : Judge(DataJuicerStatNames.PerplexityFilter, DataJuicerStatNames.Perplexity, stats.Perplexity!.Value, 0, s.PerplexityMax),
            Judge(DataJuicerStatNames.SpecialCharactersFilter, DataJuicerStatNames.SpecialCharRatio, stats.SpecialCharRatio, s.SpecialCharMinRatio, s.SpecialCharMaxRatio),
            Judge(DataJuicerStatNames.WordRepetitionFilter, DataJuicerStatNames.WordRepRatio, stats.WordRepRatio, s.WordRepMinRatio, s.WordRepMaxRatio),
        };
        string? reason = null;
        foreach (var v in verdicts)
        {
            if (v.Outcome == VerdictOutcome.Failed)
            {
                reason = v.Reason;
                break;
            }
        }
        return new CurationResult(stats, verdicts, reason is null, reason) { Cleaning = cleaned };
    }

    private static FilterVerdict Judge(string filter, string statistic, double value, double min, double max)
    {
        string? reason = null;
        if (value < min)
        {
            reason = $"{statistic} {Format(value, min, below: true)} below min {Format(min)}";
        }
        else if (value > max)
        {
            reason = $"{statistic} {Format(value, max, below: false)} above max {Format(max)}";
        }
        return new FilterVerdict(filter, statistic, reason is null ? VerdictOutcome.Passed : VerdictOutcome.Failed, value, min, max, reason);
    }

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    // Four decimals for reading, unless rounding would make the value look inside its bound.
    private static string Format(double value, double bound, bool below)
    {
        var rounded = Math.Round(value, 4, MidpointRounding.AwayFromZero);
        return (below ? rounded < bound : rounded > bound)
            ? rounded.ToString("0.####", CultureInfo.InvariantCulture)
            : Format(value);
    }
}
