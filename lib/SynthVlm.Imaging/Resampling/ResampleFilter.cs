namespace SynthVlm.Imaging;

/// <summary>The resampling filters of <see cref="Resampler"/>, with Pillow's definitions.</summary>
public enum ResampleFilter
{
    /// <summary>Nearest neighbour, mapped as Pillow's <c>Image.NEAREST</c> (pixel centres, truncation).</summary>
    Nearest,

    /// <summary>Box filter (support 0.5), Pillow's <c>Image.BOX</c>.</summary>
    Box,

    /// <summary>Triangle filter (support 1), Pillow's <c>Image.BILINEAR</c>.</summary>
    Bilinear,

    /// <summary>Keys cubic with a = -0.5 (support 2), Pillow's <c>Image.BICUBIC</c>.</summary>
    Bicubic,

    /// <summary>Lanczos windowed sinc with a = 3 (support 3), Pillow's <c>Image.LANCZOS</c>.</summary>
    Lanczos3,
}
