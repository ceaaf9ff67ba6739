using SynthVlm.Imaging;

namespace SynthVlm.Blip;

/// <summary>
/// Hugging Face BlipImageProcessor's PIL path: the decoded RGB image (alpha already dropped, grey
/// replicated, as PIL's <c>convert("RGB")</c>) is resized to <see cref="Size"/> × <see cref="Size"/>
/// ignoring the aspect ratio (no crop) with Pillow's filter semantics (bicubic by default; an image
/// already at that size is not resampled, as PIL's resize returns a copy), rescaled (float64 × factor,
/// then float32), normalised as (x − mean) / std in float32, channels first. Thread-safe.
/// </summary>
public sealed class BlipImageProcessor
{
    private readonly PixelNormalization _normalization;

    /// <summary>Creates a processor.</summary>
    /// <exception cref="ArgumentException">A size is not positive, mean/std do not have 3 values, or a std is not positive.</exception>
    public BlipImageProcessor(int size, IReadOnlyList<double> mean, IReadOnlyList<double> std, double rescaleFactor = 1 / 255.0, ResampleFilter filter = ResampleFilter.Bicubic)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        Size = size;
        Filter = filter;
        // transformers' arithmetic: float64 rescale, then float32 (x - mean) / std.
        _normalization = new PixelNormalization(rescaleFactor, mean, std);
    }

    /// <summary>Side of the square model input.</summary>
    public int Size { get; }

    /// <summary>The resize filter.</summary>
    public ResampleFilter Filter { get; }

    /// <summary>Floats one preprocessed image occupies: 3 × <see cref="Size"/> × <see cref="Size"/>.</summary>
    public int TensorLength => 3 * Size * Size;

    /// <summary>The processor a model folder's config describes.</summary>
    public static BlipImageProcessor FromConfig(BlipItmConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new BlipImageProcessor(config.ImageSize, config.ImageMean, config.ImageStd, config.RescaleFactor, config.Resample);
    }

    /// <summary>Salesforce/blip-itm-base-coco's settings (384, bicubic, OpenAI CLIP mean/std) at <paramref name="size"/>.</summary>
    public static BlipImageProcessor OpenAiClip(int size = 384) => new(size, BlipItmConfig.OpenAiClipMean, BlipItmConfig.OpenAiClipStd);

    /// <summary>Preprocesses <paramref name="image"/> into <paramref name="destination"/> ([3, Size, Size]).</summary>
    public void Preprocess(RgbImage image, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (destination.Length < TensorLength)
        {
            throw new ArgumentException($"The destination holds {destination.Length} floats; one image needs {TensorLength}.", nameof(destination));
        }
        if (image.Width == Size && image.Height == Size)
        {
            Normalise(image, destination);
            return;
        }
        using var resized = Resampler.Resize(image, Size, Size, Filter);
        Normalise(resized, destination);
    }

    /// <summary>
    /// A mirrored copy of <paramref name="image"/>: left–right (PIL's <c>ImageOps.mirror</c>) when
    /// <paramref name="horizontal"/>, top–bottom (<c>ImageOps.flip</c>) when <paramref name="vertical"/>,
    /// both in that order when both. Flipping before resizing, as Data-Juicer does, keeps Pillow's
    /// rounding exact. The caller disposes the copy.
    /// </summary>
    public static RgbImage Flip(RgbImage image, bool horizontal, bool vertical)
    {
        ArgumentNullException.ThrowIfNull(image);
        var copy = RgbImage.Allocate(image.Width, image.Height);
        var w = image.Width;
        for (var y = 0; y < image.Height; y++)
        {
            ReadOnlySpan<byte> source = image.Row(vertical ? image.Height - 1 - y : y);
            var target = copy.Row(y);
            if (!horizontal)
            {
                source.CopyTo(target);
                continue;
            }
            for (var x = 0; x < w; x++)
            {
                source.Slice((w - 1 - x) * 3, 3).CopyTo(target.Slice(x * 3, 3));
            }
        }
        return copy;
    }

    private void Normalise(RgbImage image, Span<float> destination) => _normalization.ToPlanes(image, destination);
}
