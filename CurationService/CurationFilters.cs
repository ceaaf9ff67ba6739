using System.Collections.Concurrent;
using SynthVlm.Curation;
using SynthVlm.Protos.V1;
using SynthVlm.Runs;

namespace SynthVlm.CurationService;

/// <summary>
/// The rule filters as a run configures them: the paper's thresholds unless the run overrides a
/// bound ("alnum_ratio.min" = 0.5 ...), one <see cref="CaptionCurator"/> per run (cached; configs
/// never change), and the duplicate key of a caption.
/// </summary>
public sealed class CurationFilters
{
    private const int MaxCachedRuns = 256;

    private static readonly Dictionary<string, Func<RuleFilterSettings, double, RuleFilterSettings>> Overrides = new(StringComparer.Ordinal)
    {
        ["alnum_ratio.min"] = (s, v) => s with { AlnumMinRatio = v },
        ["alnum_ratio.max"] = (s, v) => s with { AlnumMaxRatio = v },
        ["char_rep_ratio.min"] = (s, v) => s with { CharRepMinRatio = v },
        ["char_rep_ratio.max"] = (s, v) => s with { CharRepMaxRatio = v },
        ["char_rep_ratio.rep_len"] = (s, v) => s with { CharRepLen = ToInt(v) },
        ["flagged_words_ratio.min"] = (s, v) => s with { FlaggedWordsMinRatio = v },
        ["flagged_words_ratio.max"] = (s, v) => s with { FlaggedWordsMaxRatio = v },
        ["perplexity.max"] = (s, v) => s with { PerplexityMax = v },
        ["special_char_ratio.min"] = (s, v) => s with { SpecialCharMinRatio = v },
        ["special_char_ratio.max"] = (s, v) => s with { SpecialCharMaxRatio = v },
        ["word_rep_ratio.min"] = (s, v) => s with { WordRepMinRatio = v },
        ["word_rep_ratio.max"] = (s, v) => s with { WordRepMaxRatio = v },
        ["word_rep_ratio.rep_len"] = (s, v) => s with { WordRepLen = ToInt(v) },
        // Data-Juicer's cleaning mappers, each switched on by 1 (off by 0, the default).
        ["clean.html"] = (s, v) => s with { Cleaning = s.Cleaning with { CleanHtml = v == 1 } },
        ["clean.email"] = (s, v) => s with { Cleaning = s.Cleaning with { CleanEmail = v == 1 } },
        ["clean.links"] = (s, v) => s with { Cleaning = s.Cleaning with { CleanLinks = v == 1 } },
        ["clean.fix_unicode"] = (s, v) => s with { Cleaning = s.Cleaning with { FixUnicode = v == 1 } },
        ["clean.punctuation"] = (s, v) => s with { Cleaning = s.Cleaning with { NormalizePunctuation = v == 1 } },
        ["clean.whitespace"] = (s, v) => s with { Cleaning = s.Cleaning with { NormalizeWhitespace = v == 1 } },
    };

    private readonly ConcurrentDictionary<string, (RunConfig Config, CaptionCurator? Curator)> _runs = new(StringComparer.Ordinal);

    /// <summary>What the filters decided about one caption.</summary>
    /// <param name="Kept">No filter failed.</param>
    /// <param name="Code">The failing statistic (e.g. "alnum_ratio"), or "kept".</param>
    /// <param name="Reason">The failing filter's reason with the values.</param>
    /// <param name="Statistics">Every statistic that was computed, under Data-Juicer's names.</param>
    /// <param name="CleanedCaption">The caption after the run's cleaning mappers when they changed it (what is scored and emitted); otherwise null.</param>
    public sealed record Verdict(bool Kept, string Code, string Reason, IReadOnlyDictionary<string, double>? Statistics, string? CleanedCaption = null);

    /// <summary>Why an override is not acceptable, or null (used by Runs.Submit).</summary>
    public static string? CheckThreshold(string key, double value)
    {
        if (!Overrides.TryGetValue(key, out var apply))
        {
            return $"unknown threshold; expected one of {string.Join(", ", Overrides.Keys)}.";
        }
        if (key.StartsWith("clean.", StringComparison.Ordinal) && value is not (0 or 1))
        {
            return $"a cleaning switch is 0 (off) or 1 (on); found {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}.";
        }
        try
        {
            apply(RuleFilterSettings.Default, value).Validate();
            return null;
        }
        catch (ArgumentException e)
        {
            return e.Message;
        }
    }

    /// <summary>The key under which exact duplicates (after normalisation) collide.</summary>
    public static string DuplicateKey(string caption) => CaptionNormalizer.ToHex(CaptionNormalizer.Hash128(caption));

    /// <summary>The run's config (cached after the first read).</summary>
    public async Task<RunConfig?> GetConfigAsync(RunStore store, string run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (_runs.TryGetValue(run, out var cached))
        {
            return cached.Config;
        }
        var config = await store.GetConfigAsync(run, cancellationToken).ConfigureAwait(false);
        if (config is null)
        {
            return null;
        }
        if (_runs.Count >= MaxCachedRuns)
        {
            _runs.Clear();
        }
        _runs[run] = (config, config.Curation.SkipRuleFilters ? null : new CaptionCurator(Settings(config)));
        return config;
    }

    /// <summary>Runs the run's filters over <paramref name="caption"/> (after <see cref="GetConfigAsync"/>).</summary>
    public Verdict Evaluate(RunConfig config, string caption)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(caption);
        if (!_runs.TryGetValue(config.Id, out var entry))
        {
            entry = (config, config.Curation.SkipRuleFilters ? null : new CaptionCurator(Settings(config)));
            _runs[config.Id] = entry;
        }
        if (string.IsNullOrWhiteSpace(caption))
        {
            return new Verdict(false, "empty_caption", "the caption is empty or only whitespace.", null);
        }
        if (entry.Curator is null)
        {
            return new Verdict(true, "kept", "", null);
        }
        var result = entry.Curator.Evaluate(caption);
        var stats = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var v in result.Verdicts)
        {
            if (v.Value is { } value)
            {
                stats[v.Statistic] = value;
            }
        }
        var cleaned = result.Cleaning is { Changed: true } cleaning ? cleaning.Text : null;
        if (result.Kept)
        {
            return new Verdict(true, "kept", "", stats, cleaned);
        }
        var failed = result.Verdicts.First(v => v.Outcome == VerdictOutcome.Failed);
        return new Verdict(false, failed.Statistic, result.RejectReason ?? failed.Reason ?? failed.Filter, stats, cleaned);
    }

    private static RuleFilterSettings Settings(RunConfig config)
    {
        var settings = Settings(config.Curation.Thresholds, config.Curation.FlaggedWords);
        return config.Curation.PerplexityArpa.Length == 0
            ? settings
            : settings with { PerplexityArpaPath = config.Curation.PerplexityArpa, PerplexitySentencePiecePath = config.Curation.PerplexitySentencepiece };
    }

    /// <summary>The paper's settings with <paramref name="thresholds"/> applied (keys checked with <see cref="CheckThreshold"/>).</summary>
    public static RuleFilterSettings Settings(IEnumerable<KeyValuePair<string, double>> thresholds, string? flaggedWords)
    {
        ArgumentNullException.ThrowIfNull(thresholds);
        var settings = RuleFilterSettings.Default;
        foreach (var (key, value) in thresholds.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            settings = Overrides[key](settings, value);
        }
        if (!string.IsNullOrEmpty(flaggedWords))
        {
            settings = settings with { FlaggedWordsPath = flaggedWords };
        }
        return settings;
    }

    private static int ToInt(double v) => v is >= 1 and <= 1000 && Math.Floor(v) == v ? (int)v : 0;
}
