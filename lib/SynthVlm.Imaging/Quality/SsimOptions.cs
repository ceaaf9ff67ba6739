namespace SynthVlm.Imaging;

/// <summary>
/// Parameters of <see cref="Ssim"/>; the defaults are scikit-image's
/// <c>structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)</c>,
/// the settings of Wang et al. (2004) that SynthVLM's SSIMScore uses.
/// </summary>
public sealed record SsimOptions
{
    /// <summary>The defaults (σ 1.5, K1 0.01, K2 0.03, data range 255).</summary>
    public static SsimOptions Default { get; } = new();

    /// <summary>Standard deviation of the Gaussian window; the window is truncated at 3.5σ (11 taps for 1.5).</summary>
    public double Sigma { get; init; } = 1.5;

    /// <summary>Luminance stabiliser: C1 = (K1 · DataRange)².</summary>
    public double K1 { get; init; } = 0.01;

    /// <summary>Contrast stabiliser: C2 = (K2 · DataRange)².</summary>
    public double K2 { get; init; } = 0.03;

    /// <summary>The dynamic range of the pixel values (255 for 8-bit images).</summary>
    public double DataRange { get; init; } = 255;

    /// <summary>The window radius scipy's <c>gaussian_filter</c> uses: <c>int(3.5σ + 0.5)</c>.</summary>
    public int WindowRadius => (int)((3.5 * Sigma) + 0.5);

    /// <summary>Side of the window (2 · radius + 1): the smallest image side SSIM accepts.</summary>
    public int WindowSize => (2 * WindowRadius) + 1;

    internal void Validate()
    {
        if (!(Sigma > 0) || double.IsInfinity(Sigma) || WindowRadius > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(Sigma), Sigma, "Sigma must be positive and at most about 18 (window radius 64).");
        }
        if (!(DataRange > 0) || double.IsInfinity(DataRange))
        {
            throw new ArgumentOutOfRangeException(nameof(DataRange), DataRange, "DataRange must be positive and finite.");
        }
        if (!double.IsFinite(K1) || !double.IsFinite(K2))
        {
            throw new ArgumentOutOfRangeException(nameof(K1), "K1 and K2 must be finite.");
        }
    }

    /// <summary>The normalised 1-D Gaussian window, as scipy's <c>_gaussian_kernel1d</c> builds it.</summary>
    internal double[] Window()
    {
        int radius = WindowRadius;
        var window = new double[(2 * radius) + 1];
        double sum = 0;
        for (int i = -radius; i <= radius; i++)
        {
            double w = Math.Exp(-0.5 / (Sigma * Sigma) * i * i);
            window[i + radius] = w;
            sum += w;
        }
        for (int i = 0; i < window.Length; i++)
        {
            window[i] /= sum;
        }
        return window;
    }
}
