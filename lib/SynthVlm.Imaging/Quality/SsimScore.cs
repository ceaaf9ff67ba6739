namespace SynthVlm.Imaging;

/// <summary>
/// SynthVLM's SSIMScore (DESIGN.md §1.3): how much of an image survives a round trip through a
/// small square, SSIM(I, bicubic-up(bicubic-down(I, down × down), original size)).
/// </summary>
public static class SsimScore
{
    /// <summary>The intermediate side SynthVLM uses (the CLIP-L/336 input size).</summary>
    public const int DefaultDown = 336;

    /// <summary>
    /// Scores <paramref name="image"/>. A non-square image is squeezed to <paramref name="down"/> ×
    /// <paramref name="down"/> (aspect ratio not kept) and stretched back to its own size, as the
    /// official code's <c>resize((336, 336))</c> then <c>resize(original_size)</c> does.
    /// </summary>
    /// <param name="image">The picture (at least 11 × 11, the SSIM window).</param>
    /// <param name="down">Side of the square intermediate, at least 1.</param>
    /// <returns>SSIM in [-1, 1]; higher means the image is smoother / less detailed at that scale.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="down"/> is below 1.</exception>
    /// <exception cref="ImageSizeException">The image is smaller than the SSIM window.</exception>
    public static double Compute(RgbImage image, int down = DefaultDown)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfLessThan(down, 1);
        int window = SsimOptions.Default.WindowSize;
        if (image.Width < window || image.Height < window)
        {
            // Fail before spending two resizes on an image SSIM will refuse.
            throw new ImageSizeException(null, $"SSIMScore needs at least {window}x{window} pixels for the SSIM window; got {image.Width}x{image.Height}.");
        }
        using var small = Resampler.Resize(image, down, down, ResampleFilter.Bicubic);
        using var roundTrip = Resampler.Resize(small, image.Width, image.Height, ResampleFilter.Bicubic);
        return Ssim.Compute(image, roundTrip);
    }
}
