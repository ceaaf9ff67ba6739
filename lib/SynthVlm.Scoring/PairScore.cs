namespace SynthVlm.Scoring;

/// <summary>The scores of one image-caption pair.</summary>
/// <param name="Clip">CLIPScore = weight · max(cosine, 0).</param>
/// <param name="Cosine">Cosine similarity of the normalised CLIP embeddings.</param>
/// <param name="Ssim">SynthVLM's SSIMScore of the image.</param>
/// <param name="Weighted">Clip + lambda · Ssim.</param>
/// <param name="Lambda">The lambda used.</param>
/// <param name="CaptionTruncated">Whether the prefixed caption was cut to the model's context.</param>
/// <param name="CaptionTokens">Tokens fed to the text encoder, start and end included.</param>
/// <param name="Width">Image width.</param>
/// <param name="Height">Image height.</param>
/// <param name="Timings">Where the time went.</param>
public sealed record PairScore(
    double Clip,
    double Cosine,
    double Ssim,
    double Weighted,
    double Lambda,
    bool CaptionTruncated,
    int CaptionTokens,
    int Width,
    int Height,
    PairTimings Timings);

/// <summary>Per-pair timings in milliseconds; inference is the whole model call the pair was part of.</summary>
public sealed record PairTimings(double DecodeMs, double SsimMs, double PreprocessMs, double InferenceMs, int BatchSize);

/// <summary>A pair that can never be scored: empty caption, image that does not decode or is too large.</summary>
public sealed class ScoringInputException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ScoringInputException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with the underlying error.</summary>
    public ScoringInputException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public ScoringInputException() : base("The pair cannot be scored.")
    {
    }
}
