namespace SynthVlm.Judge;

/// <summary>What the judge concluded about one caption.</summary>
public enum JudgeOutcome
{
    /// <summary>The model answered yes: a good, detailed, visually grounded caption.</summary>
    Yes,

    /// <summary>The model answered no.</summary>
    No,

    /// <summary>No usable answer: the endpoint failed, timed out, or answered something other than yes/no.</summary>
    Failed,
}

/// <summary>The judge's record for one caption; a failure is a verdict too, never an exception.</summary>
/// <param name="Id">The caption id given by the caller (empty for <see cref="CaptionJudge.JudgeAsync(string, CancellationToken)"/>).</param>
/// <param name="Outcome">Yes, No or Failed.</param>
/// <param name="Answer">The model's raw reply text, or null when there was none.</param>
/// <param name="Reason">Why the verdict is <see cref="JudgeOutcome.Failed"/> (e.g. <c>http 401: …</c>, <c>timeout after 30 s</c>, <c>unparseable: …</c>); null otherwise.</param>
/// <param name="Attempts">HTTP attempts made for this caption (0 when answered from the cache).</param>
/// <param name="FromCache">Whether the verdict came from the cache (or a concurrent identical request) rather than a call of its own.</param>
/// <param name="Milliseconds">Wall time spent on this caption, retries and backoff included.</param>
public sealed record JudgeVerdict(
    string Id,
    JudgeOutcome Outcome,
    string? Answer,
    string? Reason,
    int Attempts,
    bool FromCache,
    double Milliseconds);
