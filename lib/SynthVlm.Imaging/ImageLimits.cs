namespace SynthVlm.Imaging;

/// <summary>Limits that protect a process from hostile images.</summary>
public static class ImageLimits
{
    /// <summary>The default cap on decoded pixels (64 megapixels): a decompression bomb is refused before any pixel is allocated.</summary>
    public const long DefaultMaxPixels = 64_000_000;

    /// <summary>The hard cap on any image this library allocates (so 3 × pixels fits an array).</summary>
    public const long AbsoluteMaxPixels = (int.MaxValue - 64) / RgbImage.Channels;
}
