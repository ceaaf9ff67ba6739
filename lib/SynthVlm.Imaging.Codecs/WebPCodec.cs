namespace SynthVlm.Imaging.Codecs;

/// <summary>WebP through libwebp's simple API, decoding straight into the pooled pixels.</summary>
internal static unsafe class WebPCodec
{
    /// <summary>Decodes a still lossy or lossless WebP; alpha is dropped as Pillow's <c>convert('RGB')</c> does.</summary>
    internal static RgbImage Decode(ReadOnlySpan<byte> data, DecodeOptions options, string? source)
    {
        NativeLibraries.EnsureRegistered();
        WebPNative.BitstreamFeatures features;
        fixed (byte* p = data)
        {
            var status = WebPNative.GetFeaturesInternal(p, (nuint)data.Length, &features, WebPNative.DecoderAbiVersion);
            if (status != 0)
            {
                throw new ImageFormatException(source, $"libwebp could not read the WebP header: {WebPNative.Describe(status)}");
            }
        }
        if (features.HasAnimation != 0)
        {
            throw new ImageFormatException(source, "animated WebP is not supported (decode a still image)");
        }
        DecodeGuard.CheckSize("WebP", features.Width, features.Height, options, source);
        var image = RgbImage.Allocate(features.Width, features.Height);
        try
        {
            var pixels = image.Pixels;
            fixed (byte* p = data)
            fixed (byte* dst = pixels)
            {
                if (WebPNative.DecodeRgbInto(p, (nuint)data.Length, dst, (nuint)pixels.Length, image.Stride) == null)
                {
                    throw new ImageFormatException(source, $"libwebp could not decode the {features.Width}x{features.Height} WebP: {Reason(p, data.Length)}");
                }
            }
            return image;
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    private static string Reason(byte* data, int length)
    {
        // The header parsed, so a failure is in the bitstream; a short buffer is the usual cause.
        WebPNative.BitstreamFeatures features;
        var status = WebPNative.GetFeaturesInternal(data, (nuint)length, &features, WebPNative.DecoderAbiVersion);
        return status != 0 ? WebPNative.Describe(status) : "truncated or corrupt bitstream";
    }

    /// <summary>Lossy at <paramref name="quality"/> or lossless; the output buffer is libwebp's, freed with WebPFree.</summary>
    internal static byte[] Encode(RgbImage image, int quality, bool lossless)
    {
        NativeLibraries.EnsureRegistered();
        if (image.Width > WebPNative.MaxDimension || image.Height > WebPNative.MaxDimension)
        {
            throw new ImageSizeException(null, $"{image.Width}x{image.Height} is too large for WebP (at most {WebPNative.MaxDimension} per side)");
        }
        byte* output = null;
        try
        {
            nuint size;
            fixed (byte* src = image.Pixels)
            {
                size = lossless
                    ? WebPNative.EncodeLosslessRgb(src, image.Width, image.Height, image.Stride, &output)
                    : WebPNative.EncodeRgb(src, image.Width, image.Height, image.Stride, quality, &output);
            }
            if (size == 0)
            {
                throw new ImagingException(null, $"libwebp could not encode {image.Width}x{image.Height} ({(lossless ? "lossless" : "lossy")})");
            }
            return new ReadOnlySpan<byte>(output, checked((int)size)).ToArray();
        }
        finally
        {
            if (output != null)
            {
                WebPNative.Free(output);
            }
        }
    }
}
