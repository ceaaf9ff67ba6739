using System.Globalization;
using System.Runtime.CompilerServices;
using SynthVlm.ChatEndpoints;
using SynthVlm.Core.Concurrency;

namespace SynthVlm.Hallucination.Claims;

/// <summary>
/// Judges whether a caption hallucinates: the <see cref="ClaimExtractor"/> splits it into atomic
/// claims, the <see cref="ClaimVerifier"/> checks each claim against the image, and the caption is
/// hallucination-free when every claim was judged and none was rejected (RLAIF-V's divide and
/// conquer, scored by rejected claims).
/// </summary>
/// <remarks>
/// <para>
/// A caption is <see cref="CaptionStatus.Unjudged"/> when it is empty, when extraction fails or
/// finds no claim, when it has more than <see cref="ClaimJudgeOptions.MaxClaims"/> claims, or when
/// <em>any</em> claim is unjudged, even if another claim was rejected. Judging such a caption
/// "hallucinated" when a rejection is already known, but unjudged otherwise, would drop mostly
/// clean captions from the rate and bias it down; treating every incomplete caption alike keeps
/// the exclusion independent of the outcome. The claims judged so far stay in the record.
/// </para>
/// <para>
/// A caption with no claims is unjudged rather than trivially hallucination-free, so saying
/// nothing cannot win the rate (or a preference pair).
/// </para>
/// <para>
/// The claims of one caption are checked concurrently; <see cref="JudgeManyAsync(IAsyncEnumerable{CaptionToJudge}, CancellationToken)"/>
/// keeps at most <see cref="ClaimJudgeOptions.MaxCaptionsInFlight"/> captions in flight, so memory
/// is bounded by that window times <see cref="ClaimJudgeOptions.MaxClaims"/>, not by the input's
/// size. Requests on the wire are limited, retried and cached by the chat clients
/// (<see cref="OpenAiChatClient"/>).
/// </para>
/// </remarks>
public sealed class CaptionHallucinationJudge
{
    private readonly ClaimExtractor _extractor;
    private readonly ClaimVerifier _verifier;
    private readonly ClaimJudgeOptions _options;

    /// <summary>Creates a judge; <paramref name="extractor"/> splits captions (text only), <paramref name="verifier"/> sees the images (they may be the same model).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is unusable; the message names it.</exception>
    public CaptionHallucinationJudge(IChatModel extractor, IChatModel verifier, ClaimJudgeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(extractor);
        ArgumentNullException.ThrowIfNull(verifier);
        _options = options ?? new ClaimJudgeOptions();
        _options.Validate();
        _extractor = new ClaimExtractor(extractor, _options.ExtractorMaxTokens);
        _verifier = new ClaimVerifier(verifier, _options.VerifierMaxTokens);
    }

    /// <summary>The options in use.</summary>
    public ClaimJudgeOptions Options => _options;

    /// <summary>The extractor model's name.</summary>
    public string ExtractorModel => _extractor.ModelName;

    /// <summary>The verifier model's name.</summary>
    public string VerifierModel => _verifier.ModelName;

    /// <summary>Judges one caption. Model trouble gives an unjudged judgement, never an exception.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<CaptionJudgement> JudgeAsync(CaptionToJudge item, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(item);
        var caption = item.Caption ?? string.Empty;
        var extraction = await _extractor.ExtractAsync(caption, cancellationToken).ConfigureAwait(false);
        if (!extraction.Succeeded)
        {
            return Judgement(item, CaptionStatus.Unjudged, [], extraction.Cause, extraction.Reason, extraction.Answer);
        }
        var claims = extraction.Claims;
        if (claims.Count == 0)
        {
            return Judgement(item, CaptionStatus.Unjudged, [], UnjudgedCause.NoClaims, "no claims: the extractor found nothing to check", extraction.Answer);
        }
        if (claims.Count > _options.MaxClaims)
        {
            return Judgement(item, CaptionStatus.Unjudged, [], UnjudgedCause.TooManyClaims,
                string.Create(CultureInfo.InvariantCulture, $"too many claims: {claims.Count}, the limit is {_options.MaxClaims}"), extraction.Answer);
        }
        var checks = await Task.WhenAll(claims.Select(claim => _verifier.VerifyAsync(item.ImagePath, claim, cancellationToken))).ConfigureAwait(false);
        var unjudged = checks.Select((check, index) => (check, index)).Where(x => x.check.Verdict == ClaimVerdict.Unjudged).ToList();
        if (unjudged.Count > 0)
        {
            var (first, index) = unjudged[0];
            var cause = first.Answer is null ? UnjudgedCause.VerifierFailed : UnjudgedCause.VerdictUnparseable;
            var reason = string.Create(CultureInfo.InvariantCulture,
                $"{unjudged.Count} of {checks.Length} claims unjudged; claim {index + 1} (\"{ClaimExtractionPrompt.Excerpt(first.Claim)}\"): {first.Reason}");
            return Judgement(item, CaptionStatus.Unjudged, checks, cause, reason, extraction.Answer);
        }
        var judged = Judgement(item, CaptionStatus.HallucinationFree, checks, null, null, extraction.Answer);
        return judged.RejectedCount > 0 ? judged with { Status = CaptionStatus.Hallucinated } : judged;
    }

    /// <summary>
    /// Judges a stream of captions, <see cref="ClaimJudgeOptions.MaxCaptionsInFlight"/> at a time,
    /// yielding judgements in input order. A caption's trouble is its own unjudged judgement; only
    /// cancellation (or the source's own exception) ends the sequence.
    /// </summary>
    public async IAsyncEnumerable<CaptionJudgement> JudgeManyAsync(
        IAsyncEnumerable<CaptionToJudge> captions,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(captions);
        await foreach (var judgement in OrderedWindow.SelectAsync(captions, _options.MaxCaptionsInFlight, JudgeAsync, cancellationToken).ConfigureAwait(false))
        {
            yield return judgement;
        }
    }

    /// <summary>Judges a sequence of captions; see <see cref="JudgeManyAsync(IAsyncEnumerable{CaptionToJudge}, CancellationToken)"/>.</summary>
    public IAsyncEnumerable<CaptionJudgement> JudgeManyAsync(IEnumerable<CaptionToJudge> captions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(captions);
        return JudgeManyAsync(captions.ToAsyncEnumerable(), cancellationToken);
    }

    private CaptionJudgement Judgement(CaptionToJudge item, CaptionStatus status, IReadOnlyList<ClaimCheck> claims, UnjudgedCause? cause, string? reason, string? answer) =>
        new(item.Id, item.ImagePath, item.Caption ?? string.Empty, status, claims, _options.UnsureCountsAsRejected, cause, reason, answer, _extractor.ModelName, _verifier.ModelName);
}
