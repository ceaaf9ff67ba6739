namespace SynthVlm.Imaging.Codecs;

/// <summary>How <see cref="ImageCodec.Decode"/> reads an image.</summary>
public sealed record DecodeOptions
{
    /// <summary>The shared default options.</summary>
    public static DecodeOptions Default { get; } = new();

    /// <summary>
    /// The most pixels (width × height) a header may declare; larger images are refused with
    /// <see cref="ImageSizeException"/> before any pixel is allocated. Default
    /// <see cref="ImageLimits.DefaultMaxPixels"/>; values above <see cref="ImageLimits.AbsoluteMaxPixels"/>
    /// are capped there.
    /// </summary>
    public long MaxPixels { get; init; } = ImageLimits.DefaultMaxPixels;

    /// <summary>
    /// Whether a JPEG's EXIF orientation (IFD0 tag 0x0112) is applied, so the pixels come out
    /// upright as Pillow's <c>ImageOps.exif_transpose</c> gives them. Default true.
    /// </summary>
    public bool ApplyExifOrientation { get; init; } = true;
}
