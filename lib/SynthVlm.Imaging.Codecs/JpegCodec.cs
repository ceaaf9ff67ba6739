using System.Buffers;
using System.Runtime.CompilerServices;

namespace SynthVlm.Imaging.Codecs;

/// <summary>JPEG through TurboJPEG, with EXIF orientation and CMYK conversion in C#.</summary>
internal static unsafe class JpegCodec
{
    /// <summary>
    /// Decodes baseline, progressive, grayscale and CMYK/YCCK JPEGs to RGB8 with TurboJPEG's
    /// defaults (accurate integer IDCT, smooth upsampling: what Pillow's libjpeg also uses).
    /// Any non-zero return is an error, warnings included: a truncated file "decodes" with grey
    /// padding and a warning, and Pillow refuses those too unless told LOAD_TRUNCATED_IMAGES.
    /// </summary>
    internal static RgbImage Decode(ReadOnlySpan<byte> data, DecodeOptions options, string? source)
    {
        using var tj = TurboJpegNative.CreateDecompressor();
        int width, height, colorspace;
        fixed (byte* p = data)
        {
            if (TurboJpegNative.DecompressHeader3(tj, p, (nuint)data.Length, out width, out height, out _, out colorspace) != 0)
            {
                throw new ImageFormatException(source, $"libjpeg-turbo could not read the JPEG header: {TurboJpegNative.LastError(tj)}");
            }
        }
        if (width == 0 || height == 0)
        {
            // A header read that reached the end of the data before a frame header (SOF) succeeds
            // as a "tables-only" stream with no size: for an image that means truncation.
            throw new ImageFormatException(source, "the JPEG data ends before its frame header (SOF): truncated, or a tables-only stream");
        }
        DecodeGuard.CheckSize("JPEG", width, height, options, source);
        var orientation = options.ApplyExifOrientation ? ExifOrientation.ReadFromJpeg(data) : 1;

        var image = RgbImage.Allocate(width, height);
        try
        {
            if (colorspace is TurboJpegNative.ColorspaceCmyk or TurboJpegNative.ColorspaceYcck)
            {
                DecodeCmyk(tj, data, image, source);
            }
            else
            {
                fixed (byte* p = data)
                fixed (byte* dst = image.Pixels)
                {
                    Decompress(tj, p, data.Length, dst, width, height, TurboJpegNative.PixelFormatRgb, source);
                }
            }
            if (orientation == 1)
            {
                return image;
            }
            var upright = ExifOrientation.Apply(image, orientation);
            image.Dispose();
            return upright;
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    private static void Decompress(TurboJpegHandle tj, byte* jpeg, int length, byte* dst, int width, int height, int pixelFormat, string? source)
    {
        var bytesPerPixel = pixelFormat == TurboJpegNative.PixelFormatCmyk ? 4 : 3;
        if (TurboJpegNative.Decompress2(tj, jpeg, (nuint)length, dst, width, width * bytesPerPixel, height, pixelFormat, TurboJpegNative.FlagLimitScans | TurboJpegNative.FlagStopOnWarning) != 0)
        {
            throw new ImageFormatException(source, $"libjpeg-turbo could not decode the JPEG: {TurboJpegNative.LastError(tj)}");
        }
    }

    /// <summary>
    /// TurboJPEG has no CMYK→RGB conversion. Four-component JPEGs are Adobe-style (inverted)
    /// in practice, and Pillow assumes so for all of them; it then computes
    /// R = (255−K) − (255−K)·C/255 with its MULDIV255 rounding, which this reproduces exactly.
    /// </summary>
    private static void DecodeCmyk(TurboJpegHandle tj, ReadOnlySpan<byte> data, RgbImage image, string? source)
    {
        var length = checked(image.Width * image.Height * 4);
        var cmyk = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            fixed (byte* p = data)
            fixed (byte* dst = cmyk)
            {
                Decompress(tj, p, data.Length, dst, image.Width, image.Height, TurboJpegNative.PixelFormatCmyk, source);
            }
            InvertedCmykToRgb(cmyk.AsSpan(0, length), image.Pixels);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(cmyk);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void InvertedCmykToRgb(ReadOnlySpan<byte> cmyk, Span<byte> rgb)
    {
        var n = rgb.Length / 3;
        for (int i = 0, s = 0, d = 0; i < n; i++, s += 4, d += 3)
        {
            int nk = cmyk[s + 3]; // stored inverted: 255 − K
            rgb[d] = (byte)(nk - MulDiv255(255 - cmyk[s], nk));
            rgb[d + 1] = (byte)(nk - MulDiv255(255 - cmyk[s + 1], nk));
            rgb[d + 2] = (byte)(nk - MulDiv255(255 - cmyk[s + 2], nk));
        }
    }

    private static int MulDiv255(int a, int b)
    {
        var t = (a * b) + 128;
        return ((t >> 8) + t) >> 8;
    }

    /// <summary>Baseline JPEG, 4:2:0, at <paramref name="quality"/>; TurboJPEG allocates the output, freed with tjFree.</summary>
    internal static byte[] Encode(RgbImage image, int quality)
    {
        using var tj = TurboJpegNative.CreateCompressor();
        byte* jpeg = null;
        nuint size = 0;
        try
        {
            fixed (byte* src = image.Pixels)
            {
                if (TurboJpegNative.Compress2(tj, src, image.Width, image.Stride, image.Height, TurboJpegNative.PixelFormatRgb,
                        &jpeg, &size, TurboJpegNative.Subsampling420, quality, 0) != 0)
                {
                    throw new ImagingException(null, $"libjpeg-turbo could not encode {image.Width}x{image.Height}: {TurboJpegNative.LastError(tj)}");
                }
            }
            return new ReadOnlySpan<byte>(jpeg, checked((int)size)).ToArray();
        }
        finally
        {
            if (jpeg != null)
            {
                TurboJpegNative.Free(jpeg);
            }
        }
    }
}
