using System.Globalization;

namespace SynthVlm.Imaging.Codecs;

/// <summary>The checks every decoder runs on a header before it allocates pixels.</summary>
internal static class DecodeGuard
{
    /// <summary>Throws <see cref="ImageSizeException"/> when the declared size is empty or above the cap.</summary>
    internal static void CheckSize(string format, long width, long height, DecodeOptions options, string? source)
    {
        if (width <= 0 || height <= 0)
        {
            throw new ImageSizeException(source, string.Create(CultureInfo.InvariantCulture,
                $"the {format} header declares {width}x{height}: an image needs at least one pixel"));
        }
        var cap = Math.Min(options.MaxPixels, ImageLimits.AbsoluteMaxPixels);
        var pixels = width * height;
        if (pixels > cap)
        {
            throw new ImageSizeException(source, string.Create(CultureInfo.InvariantCulture,
                $"the {format} header declares {width}x{height} = {pixels} pixels, above the cap of {cap} (DecodeOptions.MaxPixels)"));
        }
    }
}
