using System.Text.Encodings.Web;
using System.Text.Json;

namespace SynthVlm.Hallucination.Claims;

/// <summary>What the verifier said about one claim.</summary>
public enum ClaimVerdict
{
    /// <summary>The image shows the claim is true ("yes").</summary>
    Supported,

    /// <summary>The image shows the claim is false ("no"): a hallucination.</summary>
    Rejected,

    /// <summary>The image cannot settle the claim ("unsure").</summary>
    Unsure,

    /// <summary>No usable answer: the call failed or the reply did not parse.</summary>
    Unjudged,
}

/// <summary>What became of one caption.</summary>
public enum CaptionStatus
{
    /// <summary>Every claim was judged and none was rejected.</summary>
    HallucinationFree,

    /// <summary>Every claim was judged and at least one was rejected.</summary>
    Hallucinated,

    /// <summary>The caption could not be judged (see <see cref="UnjudgedCause"/>); it is left out of the rate and counted.</summary>
    Unjudged,
}

/// <summary>Why a caption is <see cref="CaptionStatus.Unjudged"/>.</summary>
public enum UnjudgedCause
{
    /// <summary>The caption is empty or blank.</summary>
    EmptyCaption,

    /// <summary>The extractor model could not be reached or failed.</summary>
    ExtractorFailed,

    /// <summary>The extractor's reply was not a list of claims.</summary>
    ClaimsUnparseable,

    /// <summary>The extractor found no claim in the caption.</summary>
    NoClaims,

    /// <summary>The caption has more claims than <see cref="ClaimJudgeOptions.MaxClaims"/>.</summary>
    TooManyClaims,

    /// <summary>The verifier could not be reached or failed for a claim (e.g. the image is unreadable).</summary>
    VerifierFailed,

    /// <summary>The verifier's reply for a claim did not parse.</summary>
    VerdictUnparseable,
}

/// <summary>One caption to judge against its image.</summary>
/// <param name="Id">The caption's id (an image id, a sample id); results carry it.</param>
/// <param name="ImagePath">The image file the verifier is shown.</param>
/// <param name="Caption">The caption.</param>
public sealed record CaptionToJudge(string Id, string ImagePath, string Caption);

/// <summary>One claim and its verdict.</summary>
/// <param name="Claim">The claim's text, as the extractor wrote it.</param>
/// <param name="Verdict">The verifier's verdict.</param>
/// <param name="Answer">The verifier's raw reply, or null when there was none.</param>
/// <param name="Reason">Why the verdict is <see cref="ClaimVerdict.Unjudged"/>; null otherwise.</param>
public sealed record ClaimCheck(string Claim, ClaimVerdict Verdict, string? Answer, string? Reason);

/// <summary>
/// A caption's judgement: its claims with their verdicts and its status. Written as one JSON object
/// per caption (<see cref="ToJsonLine"/>), with the prompt versions and models that produced it.
/// </summary>
/// <param name="Id">The caption's id.</param>
/// <param name="ImagePath">The image file.</param>
/// <param name="Caption">The caption.</param>
/// <param name="Status">Hallucination-free, hallucinated or unjudged.</param>
/// <param name="Claims">The claims in the extractor's order with their verdicts (empty when extraction failed).</param>
/// <param name="UnsureCountsAsRejected">Whether an unsure claim counted as rejected (<see cref="ClaimJudgeOptions.UnsureCountsAsRejected"/>).</param>
/// <param name="Cause">Why the caption is unjudged; null when it is judged.</param>
/// <param name="Reason">The details of <paramref name="Cause"/> (file, claim, reply excerpt); null when judged.</param>
/// <param name="ExtractorAnswer">The extractor's raw reply, or null when there was none.</param>
/// <param name="ExtractorModel">The extractor model's name.</param>
/// <param name="VerifierModel">The verifier model's name.</param>
public sealed record CaptionJudgement(
    string Id,
    string ImagePath,
    string Caption,
    CaptionStatus Status,
    IReadOnlyList<ClaimCheck> Claims,
    bool UnsureCountsAsRejected,
    UnjudgedCause? Cause,
    string? Reason,
    string? ExtractorAnswer,
    string ExtractorModel,
    string VerifierModel)
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Whether the caption was judged (hallucination-free or hallucinated).</summary>
    public bool IsJudged => Status != CaptionStatus.Unjudged;

    /// <summary>
    /// Claims counted as hallucinations: those rejected, plus those unsure when
    /// <see cref="UnsureCountsAsRejected"/>. This is the caption's score for preference pairs
    /// (fewer is better), as RLAIF-V scores a response by its rejected claims.
    /// </summary>
    public int RejectedCount => Claims.Count(c => c.Verdict == ClaimVerdict.Rejected || (UnsureCountsAsRejected && c.Verdict == ClaimVerdict.Unsure));

    /// <summary>Claims the verifier answered unsure about.</summary>
    public int UnsureCount => Claims.Count(c => c.Verdict == ClaimVerdict.Unsure);

    /// <summary>Claims without a usable verdict.</summary>
    public int UnjudgedClaimCount => Claims.Count(c => c.Verdict == ClaimVerdict.Unjudged);

    /// <summary>
    /// Writes the judgement as one JSON object: <c>id</c>, <c>image</c>, <c>caption</c>,
    /// <c>status</c> (<c>hallucination_free</c>, <c>hallucinated</c>, <c>unjudged</c>),
    /// <c>rejected_claims</c>, <c>unsure_claims</c>, <c>unjudged_cause</c>, <c>reason</c>, <c>claims</c>
    /// (<c>claim</c>, <c>verdict</c>, <c>answer</c>, <c>reason</c>), <c>extractor_answer</c>, and the
    /// prompts and models that produced it.
    /// </summary>
    public void WriteJson(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStartObject();
        writer.WriteString("id"u8, Id);
        writer.WriteString("image"u8, ImagePath);
        writer.WriteString("caption"u8, Caption);
        writer.WriteString("status"u8, StatusName(Status));
        writer.WriteNumber("rejected_claims"u8, RejectedCount);
        writer.WriteNumber("unsure_claims"u8, UnsureCount);
        writer.WriteBoolean("unsure_counts_as_rejected"u8, UnsureCountsAsRejected);
        if (Cause is { } cause)
        {
            writer.WriteString("unjudged_cause"u8, CauseName(cause));
            writer.WriteString("reason"u8, Reason);
        }
        writer.WriteStartArray("claims"u8);
        foreach (var claim in Claims)
        {
            writer.WriteStartObject();
            writer.WriteString("claim"u8, claim.Claim);
            writer.WriteString("verdict"u8, VerdictName(claim.Verdict));
            writer.WriteString("answer"u8, claim.Answer);
            if (claim.Reason is not null)
            {
                writer.WriteString("reason"u8, claim.Reason);
            }
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
        writer.WriteString("extractor_answer"u8, ExtractorAnswer);
        writer.WriteString("extraction_prompt"u8, ClaimExtractionPrompt.Version);
        writer.WriteString("verification_prompt"u8, ClaimVerificationPrompt.Version);
        writer.WriteString("extractor_model"u8, ExtractorModel);
        writer.WriteString("verifier_model"u8, VerifierModel);
        writer.WriteEndObject();
    }

    /// <summary>The judgement as one line of JSON (no newline), see <see cref="WriteJson"/>.</summary>
    public string ToJsonLine()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, WriterOptions))
        {
            WriteJson(writer);
        }
        return System.Text.Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }

    /// <summary>The JSON spelling of a status: <c>hallucination_free</c>, <c>hallucinated</c>, <c>unjudged</c>.</summary>
    public static string StatusName(CaptionStatus status) => status switch
    {
        CaptionStatus.HallucinationFree => "hallucination_free",
        CaptionStatus.Hallucinated => "hallucinated",
        _ => "unjudged",
    };

    /// <summary>The JSON spelling of a verdict: <c>yes</c>, <c>no</c>, <c>unsure</c>, <c>unjudged</c>.</summary>
    public static string VerdictName(ClaimVerdict verdict) => verdict switch
    {
        ClaimVerdict.Supported => "yes",
        ClaimVerdict.Rejected => "no",
        ClaimVerdict.Unsure => "unsure",
        _ => "unjudged",
    };

    /// <summary>The JSON spelling of a cause, e.g. <c>verdict_unparseable</c>.</summary>
    public static string CauseName(UnjudgedCause cause) => cause switch
    {
        UnjudgedCause.EmptyCaption => "empty_caption",
        UnjudgedCause.ExtractorFailed => "extractor_failed",
        UnjudgedCause.ClaimsUnparseable => "claims_unparseable",
        UnjudgedCause.NoClaims => "no_claims",
        UnjudgedCause.TooManyClaims => "too_many_claims",
        UnjudgedCause.VerifierFailed => "verifier_failed",
        _ => "verdict_unparseable",
    };
}
