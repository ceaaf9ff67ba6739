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
    private readonly float[] _lookup;

    /// <summary>Creates a processor.</summary>
    /// <exception cref="ArgumentException">A size is not positive, mean/std do not have 3 values, or a std is not positive.</exception>
    public BlipImageProcessor(int size, IReadOnlyList<double> mean, IReadOnlyList<double> std, double rescaleFactor = 1 / 255.0, ResampleFilter filter = ResampleFilter.Bicubic)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Count != 3 || std.Count != 3)
        {
            throw new ArgumentException($"mean and std need 3 values (RGB); got {mean.Count} and {std.Count}.");
        }
        if (std.Any(s => !(s > 0)))
        {
            throw new ArgumentException("std values must be positive.", nameof(std));
        }
        Size = size;
        Filter = filter;
        // 256 byte values per channel: rescale + normalise is one table lookup, with transformers'
        // arithmetic (float64 rescale, then float32 (x - mean) / std).
        _lookup = new float[3 * 256];
        for (var c = 0; c < 3; c++)
        {
            for (var v = 0; v < 256; v++)
            {
                var x = (float)(v * rescaleFactor);
                _lookup[(c * 256) + v] = (x - (float)mean[c]) / (float)std[c];
            }
        }
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

    private void Normalise(RgbImage image, Span<float> destination)
    {
        var plane = Size * Size;
        ReadOnlySpan<float> lut = _lookup;
        var lr = lut[..256];
        var lg = lut.Slice(256, 256);
        var lb = lut.Slice(512, 256);
        var red = destination[..plane];
        var green = destination.Slice(plane, plane);
        var blue = destination.Slice(2 * plane, plane);
        for (var y = 0; y < Size; y++)
        {
            ReadOnlySpan<byte> row = image.Row(y);
            var o = y * Size;
            for (var x = 0; x < Size; x++)
            {
                var p = x * 3;
                red[o + x] = lr[row[p]];
                green[o + x] = lg[row[p + 1]];
                blue[o + x] = lb[row[p + 2]];
            }
        }
    }
}
