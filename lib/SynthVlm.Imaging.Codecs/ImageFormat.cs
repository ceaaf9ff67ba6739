namespace SynthVlm.Imaging.Codecs;

/// <summary>The container formats <see cref="ImageCodec"/> reads and writes.</summary>
public enum ImageFormat
{
    /// <summary>Not one of the supported formats.</summary>
    Unknown = 0,

    /// <summary>PNG (signature 89 50 4E 47 0D 0A 1A 0A).</summary>
    Png,

    /// <summary>JPEG / JFIF / EXIF (starts FF D8 FF).</summary>
    Jpeg,

    /// <summary>WebP (RIFF container with form type "WEBP").</summary>
    WebP,
}
