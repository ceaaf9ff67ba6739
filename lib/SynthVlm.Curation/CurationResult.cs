namespace SynthVlm.Curation;

/// <summary>What a filter decided about one caption.</summary>
public enum VerdictOutcome
{
    /// <summary>The statistic lies within [min, max].</summary>
    Passed,

    /// <summary>The statistic lies outside [min, max]; the caption is dropped.</summary>
    Failed,

    /// <summary>The filter could not run (a model or word list is missing); it does not drop the caption.</summary>
    Skipped,
}

/// <summary>One filter's verdict on one caption.</summary>
/// <param name="Filter">Data-Juicer's operator name, e.g. "alphanumeric_filter".</param>
/// <param name="Statistic">Data-Juicer's stats key, e.g. "alnum_ratio".</param>
/// <param name="Outcome">Passed, failed or skipped.</param>
/// <param name="Value">The statistic; null when skipped.</param>
/// <param name="Min">The inclusive lower bound.</param>
/// <param name="Max">The inclusive upper bound (+∞ when unbounded).</param>
/// <param name="Reason">For a failure, e.g. "alnum_ratio 0.41 below min 0.6"; for a skip, why; otherwise null.</param>
public sealed record FilterVerdict(string Filter, string Statistic, VerdictOutcome Outcome, double? Value, double Min, double Max, string? Reason);

/// <summary>The full record of one caption through the rule filters.</summary>
/// <param name="Statistics">Every statistic.</param>
/// <param name="Verdicts">One verdict per filter, in Data-Juicer's alphabetical stat order
/// (alnum, char_rep, flagged_words, perplexity, special_char, word_rep).</param>
/// <param name="Kept">True when no filter failed (skipped filters do not drop).</param>
/// <param name="RejectReason">The first failing filter's reason, or null when kept.</param>
public sealed record CurationResult(RuleStatistics Statistics, IReadOnlyList<FilterVerdict> Verdicts, bool Kept, string? RejectReason)
{
    /// <summary>
    /// The caption's cleaning (before/after of each mapper that changed it) when the settings switch
    /// any mapper on; null otherwise. The statistics are those of <see cref="Cleaning.CleanedCaption.Text"/>.
    /// </summary>
    public Cleaning.CleanedCaption? Cleaning { get; init; }
}
