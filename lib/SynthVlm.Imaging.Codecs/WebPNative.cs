using System.Runtime.InteropServices;

namespace SynthVlm.Imaging.Codecs;

/// <summary>
/// libwebp's simple API (decode.h / encode.h, libwebp 1.2). Decoders return null on failure
/// and encoders 0; the simple API gives no message, so <see cref="GetFeaturesInternal"/>'s
/// status code supplies the reason.
/// </summary>
internal static unsafe partial class WebPNative
{
    /// <summary>WEBP_DECODER_ABI_VERSION of libwebp 1.2 (only the major byte is checked).</summary>
    internal const int DecoderAbiVersion = 0x0209;

    /// <summary>WEBP_MAX_DIMENSION: the format stores dimensions in 14 bits.</summary>
    internal const int MaxDimension = 16383;

    /// <summary>WebPBitstreamFeatures (decode.h).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct BitstreamFeatures
    {
        public int Width;
        public int Height;
        public int HasAlpha;
        public int HasAnimation;
        public int Format;
        public fixed uint Pad[5];
    }

    [LibraryImport(NativeLibraries.WebP, EntryPoint = "WebPGetFeaturesInternal")]
    internal static partial int GetFeaturesInternal(byte* data, nuint size, BitstreamFeatures* features, int version);

    [LibraryImport(NativeLibraries.WebP, EntryPoint = "WebPDecodeRGBInto")]
    internal static partial byte* DecodeRgbInto(byte* data, nuint size, byte* output, nuint outputSize, int outputStride);

    [LibraryImport(NativeLibraries.WebP, EntryPoint = "WebPEncodeRGB")]
    internal static partial nuint EncodeRgb(byte* rgb, int width, int height, int stride, float quality, byte** output);

    [LibraryImport(NativeLibraries.WebP, EntryPoint = "WebPEncodeLosslessRGB")]
    internal static partial nuint EncodeLosslessRgb(byte* rgb, int width, int height, int stride, byte** output);

    [LibraryImport(NativeLibraries.WebP, EntryPoint = "WebPFree")]
    internal static partial void Free(void* pointer);

    /// <summary>VP8StatusCode names (decode.h).</summary>
    internal static string Describe(int status) => status switch
    {
        1 => "out of memory",
        2 => "invalid parameter",
        3 => "bitstream error (corrupt data)",
        4 => "unsupported feature",
        5 => "suspended",
        6 => "user abort",
        7 => "not enough data (truncated)",
        _ => $"status {status}",
    };
}
