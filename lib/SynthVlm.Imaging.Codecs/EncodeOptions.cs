namespace SynthVlm.Imaging.Codecs;

/// <summary>How <see cref="ImageCodec.Encode"/> writes an image. Values are checked when encoding.</summary>
public sealed record EncodeOptions
{
    /// <summary>The shared default options.</summary>
    public static EncodeOptions Default { get; } = new();

    /// <summary>zlib level for PNG, 0 (stored) to 9 (smallest). Default 6.</summary>
    public int PngCompressionLevel { get; init; } = 6;

    /// <summary>JPEG quality, 1 to 100 (4:2:0 chroma subsampling). Default 90.</summary>
    public int JpegQuality { get; init; } = 90;

    /// <summary>WebP lossy quality, 0 to 100 (ignored when <see cref="WebPLossless"/>). Default 90.</summary>
    public int WebPQuality { get; init; } = 90;

    /// <summary>Whether WebP is written lossless (pixels round-trip exactly). Default false.</summary>
    public bool WebPLossless { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first option out of range.</summary>
    public void Validate()
    {
        Check(PngCompressionLevel, 0, 9, nameof(PngCompressionLevel));
        Check(JpegQuality, 1, 100, nameof(JpegQuality));
        Check(WebPQuality, 0, 100, nameof(WebPQuality));
    }

    private static void Check(int value, int min, int max, string name)
    {
        if (value < min || value > max)
        {
            throw new ArgumentOutOfRangeException(name, value, $"EncodeOptions.{name} must be {min}..{max}, got {value}.");
        }
    }
}
