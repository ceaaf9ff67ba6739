namespace SynthVlm.Hallucination.Claims;

/// <summary>How <see cref="CaptionHallucinationJudge"/> judges captions. Validated when the judge is created.</summary>
public sealed record ClaimJudgeOptions
{
    /// <summary>
    /// The most claims a caption may have (default 64); a caption with more is unjudged
    /// (<see cref="UnjudgedCause.TooManyClaims"/>), which bounds the calls and memory per caption.
    /// </summary>
    public int MaxClaims { get; init; } = 64;

    /// <summary>
    /// Whether an "unsure" verdict counts as a rejected claim (default false). RLAIF-V has no unsure:
    /// a claim is correct only when "yes" is likelier than "no". Knowledge-rich captions assert
    /// things an image cannot show, so by default only a "no" is a hallucination; set this for the
    /// stricter reading.
    /// </summary>
    public bool UnsureCountsAsRejected { get; init; }

    /// <summary>Captions judged at the same time by <see cref="CaptionHallucinationJudge.JudgeManyAsync(IAsyncEnumerable{CaptionToJudge}, CancellationToken)"/> (default 8). Requests on the wire are further limited by the chat clients.</summary>
    public int MaxCaptionsInFlight { get; init; } = 8;

    /// <summary>Most tokens in the extractor's reply (default 512).</summary>
    public int ExtractorMaxTokens { get; init; } = 512;

    /// <summary>Most tokens in the verifier's reply (default 8: one word is asked for).</summary>
    public int VerifierMaxTokens { get; init; } = 8;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first unusable option.</summary>
    public void Validate()
    {
        foreach (var (value, name) in new[]
        {
            (MaxClaims, nameof(MaxClaims)), (MaxCaptionsInFlight, nameof(MaxCaptionsInFlight)),
            (ExtractorMaxTokens, nameof(ExtractorMaxTokens)), (VerifierMaxTokens, nameof(VerifierMaxTokens)),
        })
        {
            if (value < 1)
            {
                throw new ArgumentOutOfRangeException(name, value, $"{nameof(ClaimJudgeOptions)}.{name} must be at least 1; found {value}.");
            }
        }
    }
}
