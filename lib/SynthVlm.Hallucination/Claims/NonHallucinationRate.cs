using System.Globalization;
using System.Text.Json.Nodes;
using SynthVlm.Core.Statistics;

namespace SynthVlm.Hallucination.Claims;

/// <summary>
/// The judge-based non-hallucination rate: the share of hallucination-free captions among the
/// judged ones, with a 95 % Wilson score interval; unjudged captions are excluded from the rate and
/// counted by cause.
/// </summary>
/// <remarks>
/// Add judgements one at a time (<see cref="Add"/>), or let <see cref="MeasureAsync"/> judge a
/// stream of captions and write each judgement as a JSONL line as it comes; only counts are kept,
/// so memory does not grow with the number of captions.
/// </remarks>
public sealed class NonHallucinationRate
{
    /// <summary>The metric's name in results.</summary>
    public const string MetricName = "non_hallucination_rate";

    private readonly Dictionary<UnjudgedCause, int> _unjudgedByCause = [];

    /// <summary>Captions added.</summary>
    public int Captions { get; private set; }

    /// <summary>Captions judged hallucination-free.</summary>
    public int HallucinationFree { get; private set; }

    /// <summary>Captions judged hallucinated (at least one rejected claim).</summary>
    public int Hallucinated { get; private set; }

    /// <summary>Captions judged: the rate's denominator.</summary>
    public int Judged => HallucinationFree + Hallucinated;

    /// <summary>Captions left out of the rate.</summary>
    public int Unjudged => Captions - Judged;

    /// <summary>Claims of the judged captions.</summary>
    public int Claims { get; private set; }

    /// <summary>Claims of the judged captions counted as rejected.</summary>
    public int RejectedClaims { get; private set; }

    /// <summary>Claims of the judged captions the verifier was unsure about.</summary>
    public int UnsureClaims { get; private set; }

    /// <summary>Unjudged captions by cause.</summary>
    public IReadOnlyDictionary<UnjudgedCause, int> UnjudgedByCause => _unjudgedByCause;

    /// <summary>Whether unsure claims counted as rejected (from the judgements; null before the first judged caption).</summary>
    public bool? UnsureCountsAsRejected { get; private set; }

    /// <summary>The extractor and verifier models (from the first judgement; null before one is added).</summary>
    public (string Extractor, string Verifier)? Models { get; private set; }

    /// <summary>Hallucination-free / judged; null when nothing was judged.</summary>
    public double? Rate => Judged == 0 ? null : (double)HallucinationFree / Judged;

    /// <summary>The 95 % Wilson score interval of <see cref="Rate"/>; (0, 0) when nothing was judged.</summary>
    public (double Low, double High) Wilson95 => WilsonInterval.Compute(HallucinationFree, Judged);

    /// <summary>Counts one caption's judgement.</summary>
    public void Add(CaptionJudgement judgement)
    {
        ArgumentNullException.ThrowIfNull(judgement);
        Captions++;
        Models ??= (judgement.ExtractorModel, judgement.VerifierModel);
        switch (judgement.Status)
        {
            case CaptionStatus.HallucinationFree:
                HallucinationFree++;
                break;
            case CaptionStatus.Hallucinated:
                Hallucinated++;
                break;
            default:
                var cause = judgement.Cause ?? UnjudgedCause.VerdictUnparseable;
                _unjudgedByCause[cause] = _unjudgedByCause.GetValueOrDefault(cause) + 1;
                return;
        }
        UnsureCountsAsRejected ??= judgement.UnsureCountsAsRejected;
        Claims += judgement.Claims.Count;
        RejectedClaims += judgement.RejectedCount;
        UnsureClaims += judgement.UnsureCount;
    }

    /// <summary>
    /// The result as JSON: <c>metric</c>, <c>rate</c> (null when nothing was judged),
    /// <c>wilson95</c>, <c>captions</c>, <c>judged</c>, <c>hallucination_free</c>, <c>hallucinated</c>,
    /// <c>unjudged</c> with <c>unjudged_by_cause</c>, claim counts, the prompt versions and models,
    /// and a one-line <c>summary</c>.
    /// </summary>
    public JsonObject ToJson()
    {
        var (low, high) = Wilson95;
        var causes = new JsonObject();
        foreach (var (cause, count) in _unjudgedByCause.OrderBy(p => p.Key))
        {
            causes[CaptionJudgement.CauseName(cause)] = count;
        }
        return new JsonObject
        {
            ["metric"] = MetricName,
            ["definition"] = "share of judged captions with no rejected claim; unjudged captions excluded and counted",
            ["rate"] = Rate,
            ["wilson95"] = new JsonArray(low, high),
            ["interval"] = "Wilson score, 95 % (z = 1.959963984540054), over judged captions",
            ["captions"] = Captions,
            ["judged"] = Judged,
            ["hallucination_free"] = HallucinationFree,
            ["hallucinated"] = Hallucinated,
            ["unjudged"] = Unjudged,
            ["unjudged_by_cause"] = causes,
            ["claims"] = Claims,
            ["rejected_claims"] = RejectedClaims,
            ["unsure_claims"] = UnsureClaims,
            ["unsure_counts_as_rejected"] = UnsureCountsAsRejected,
            ["extraction_prompt"] = ClaimExtractionPrompt.Version,
            ["verification_prompt"] = ClaimVerificationPrompt.Version,
            ["extractor_model"] = Models?.Extractor,
            ["verifier_model"] = Models?.Verifier,
            ["summary"] = Summary(),
        };
    }

    /// <summary>One line: the rate with its interval, and the unjudged captions by cause.</summary>
    public string Summary()
    {
        var unjudged = Unjudged == 0
            ? "none unjudged"
            : string.Create(CultureInfo.InvariantCulture, $"{Unjudged} unjudged and excluded (")
                + string.Join(", ", _unjudgedByCause.OrderBy(p => p.Key).Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Value} {CaptionJudgement.CauseName(p.Key)}")))
                + ")";
        if (Rate is not { } rate)
        {
            return string.Create(CultureInfo.InvariantCulture, $"no caption judged of {Captions}; {unjudged}");
        }
        var (low, high) = Wilson95;
        return string.Create(CultureInfo.InvariantCulture,
            $"non-hallucination rate {rate:P1} (95 % CI {low:P1}–{high:P1}): {HallucinationFree} of {Judged} judged captions; {unjudged}");
    }

    /// <summary>
    /// Judges <paramref name="captions"/> with <paramref name="judge"/>, writes each judgement to
    /// <paramref name="records"/> as a JSONL line (in input order, flushed per line) when it is
    /// given, and returns the rate.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task<NonHallucinationRate> MeasureAsync(
        CaptionHallucinationJudge judge,
        IAsyncEnumerable<CaptionToJudge> captions,
        TextWriter? records,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(judge);
        ArgumentNullException.ThrowIfNull(captions);
        var rate = new NonHallucinationRate();
        await foreach (var judgement in judge.JudgeManyAsync(captions, cancellationToken).ConfigureAwait(false))
        {
            rate.Add(judgement);
            if (records is not null)
            {
                await records.WriteAsync(judgement.ToJsonLine().AsMemory(), cancellationToken).ConfigureAwait(false);
                await records.WriteAsync("\n".AsMemory(), cancellationToken).ConfigureAwait(false);
                await records.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        return rate;
    }
}
