using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.CompilerServices;

namespace SynthVlm.Imaging.Codecs;

/// <summary>PNG: decoding through libpng's simplified API, encoding in C#.</summary>
internal static unsafe class PngCodec
{
    private static ReadOnlySpan<byte> Signature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>
    /// Decodes any PNG (1–16 bit, gray, palette, alpha, Adam7) to RGB8. Alpha is dropped, not
    /// composited, as Pillow's <c>convert('RGB')</c> does; gAMA is ignored, as Pillow does.
    /// 16-bit samples are declared sRGB-encoded (PNG_IMAGE_FLAG_16BIT_sRGB) so libpng only
    /// narrows them; without the flag it would treat them as linear light and gamma-encode them.
    /// </summary>
    internal static RgbImage Decode(ReadOnlySpan<byte> data, DecodeOptions options, string? source)
    {
        CheckDeclaredSize(data, options, source);
        var gamma = FindGammaChunk(data);
        if (gamma < 0)
        {
            return DecodeWithLibpng(data, options, source);
        }
        var copy = ArrayPool<byte>.Shared.Rent(data.Length);
        try
        {
            data.CopyTo(copy);
            HideChunk(copy.AsSpan(gamma, data.Length - gamma));
            return DecodeWithLibpng(copy.AsSpan(0, data.Length), options, source);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    /// <summary>
    /// The offset of a gAMA chunk before the first IDAT, or -1. libpng's simplified reader
    /// converts pixels from the file's gamma to sRGB; Pillow (and most viewers of 8-bit PNGs)
    /// ignore gAMA, and a score computed on these pixels must match Pillow's.
    /// </summary>
    private static int FindGammaChunk(ReadOnlySpan<byte> data)
    {
        var at = Signature.Length;
        while (at + 12 <= data.Length)
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(data[at..]);
            var type = data.Slice(at + 4, 4);
            if (type.SequenceEqual("IDAT"u8) || length > (uint)(data.Length - at - 12))
            {
                return -1; // past the header chunks, or a broken length libpng will report
            }
            if (type.SequenceEqual("gAMA"u8))
            {
                return at;
            }
            at += 12 + (int)length;
        }
        return -1;
    }

    /// <summary>Renames the chunk to an unknown ancillary type (which readers skip) and re-signs it.</summary>
    private static void HideChunk(Span<byte> chunk)
    {
        var length = (int)BinaryPrimitives.ReadUInt32BigEndian(chunk);
        "gAMx"u8.CopyTo(chunk[4..]);
        BinaryPrimitives.WriteUInt32BigEndian(chunk[(8 + length)..], Crc32.Compute(chunk.Slice(4, 4 + length)));
    }

    private static RgbImage DecodeWithLibpng(ReadOnlySpan<byte> data, DecodeOptions options, string? source)
    {
        // One pin for the whole decode: begin_read only records the pointer, finish_read reads it.
        fixed (byte* p = data)
        {
            return DecodePinned(p, (nuint)data.Length, options, source);
        }
    }

    private static RgbImage DecodePinned(byte* data, nuint length, DecodeOptions options, string? source)
    {
        using var handle = new PngImageHandle();
        var image = handle.Image;
        if (PngNative.BeginReadFromMemory(image, data, length) == 0)
        {
            throw Failure(image, source, "the PNG header");
        }
        DecodeGuard.CheckSize("PNG", image->Width, image->Height, options, source);
        var width = (int)image->Width;
        var height = (int)image->Height;
        var hasAlpha = (image->Format & PngNative.FormatFlagAlpha) != 0;
        if ((image->Format & PngNative.FormatFlagLinear) != 0)
        {
            image->Flags |= PngNative.Flag16BitSrgb;
        }
        image->Format = hasAlpha ? PngNative.FormatRgba : PngNative.FormatRgb;

        var result = RgbImage.Allocate(width, height);
        try
        {
            if (!hasAlpha)
            {
                fixed (byte* dst = result.Pixels)
                {
                    Finish(image, dst, width * 3, source);
                }
                return result;
            }
            var rgbaLength = checked(width * height * 4);
            var rgba = ArrayPool<byte>.Shared.Rent(rgbaLength);
            try
            {
                fixed (byte* dst = rgba)
                {
                    Finish(image, dst, width * 4, source);
                }
                DropAlpha(rgba.AsSpan(0, rgbaLength), result.Pixels);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rgba);
            }
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Applies the size checks to IHDR before libpng sees it: libpng rejects a zero dimension
    /// as a format error, and this keeps the pixel cap independent of libpng's own limits.
    /// </summary>
    private static void CheckDeclaredSize(ReadOnlySpan<byte> data, DecodeOptions options, string? source)
    {
        if (data.Length >= 24 && data[12..].StartsWith("IHDR"u8))
        {
            DecodeGuard.CheckSize("PNG", BinaryPrimitives.ReadUInt32BigEndian(data[16..]), BinaryPrimitives.ReadUInt32BigEndian(data[20..]), options, source);
        }
    }

    private static void Finish(PngNative.PngImage* image, byte* dst, int stride, string? source)
    {
        if (PngNative.FinishRead(image, null, dst, stride, null) == 0)
        {
            throw Failure(image, source, "the PNG data");
        }
    }

    private static ImageFormatException Failure(PngNative.PngImage* image, string? source, string what)
    {
        var message = PngNative.MessageOf(image);
        return new ImageFormatException(source, $"libpng could not read {what}: {(message.Length == 0 ? "unknown error" : message)}");
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DropAlpha(ReadOnlySpan<byte> rgba, Span<byte> rgb)
    {
        var n = rgb.Length / 3;
        for (int i = 0, s = 0, d = 0; i < n; i++, s += 4, d += 3)
        {
            rgb[d] = rgba[s];
            rgb[d + 1] = rgba[s + 1];
            rgb[d + 2] = rgba[s + 2];
        }
    }

    /// <summary>
    /// Writes an 8-bit RGB PNG. libpng's simplified writer has no compression-level control and
    /// its classic API reports errors by longjmp, which must not cross managed frames, so the
    /// encoder is here: adaptive per-row filtering (the filter with the smallest sum of absolute
    /// signed residuals, libpng's own heuristic) and zlib from System.IO.Compression. Level 0
    /// stores rows unfiltered, since filtering only helps a compressor.
    /// </summary>
    internal static byte[] Encode(RgbImage image, int level) => Encode(image, level, forcedFilter: -1);

    /// <summary>As <see cref="Encode(RgbImage, int)"/>; a <paramref name="forcedFilter"/> of 0–4 uses that filter on every row (tests reach each filter's code this way).</summary>
    internal static byte[] Encode(RgbImage image, int level, int forcedFilter)
    {
        var stride = image.Stride;
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true))
        {
            var scratch = ArrayPool<byte>.Shared.Rent(6 * (stride + 1));
            try
            {
                var pixels = image.Pixels;
                for (var y = 0; y < image.Height; y++)
                {
                    var row = pixels.Slice(y * stride, stride);
                    var prior = y == 0 ? default : pixels.Slice((y - 1) * stride, stride);
                    zlib.Write(level == 0 && forcedFilter < 0 ? Unfiltered(row, scratch) : FilterRow(row, prior, scratch, stride, forcedFilter));
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }

        var idat = compressed.GetBuffer().AsSpan(0, (int)compressed.Length);
        var output = new byte[Signature.Length + (12 + 13) + (12 + idat.Length) + 12];
        var o = output.AsSpan();
        Signature.CopyTo(o);
        var at = Signature.Length;
        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, image.Width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], image.Height);
        ihdr[8] = 8;  // bit depth
        ihdr[9] = 2;  // colour type: truecolour
        ihdr[10] = 0; // deflate
        ihdr[11] = 0; // adaptive filtering
        ihdr[12] = 0; // not interlaced
        at += WriteChunk(o[at..], "IHDR"u8, ihdr);
        at += WriteChunk(o[at..], "IDAT"u8, idat);
        at += WriteChunk(o[at..], "IEND"u8, []);
        return output;
    }

    private static ReadOnlySpan<byte> Unfiltered(ReadOnlySpan<byte> row, byte[] scratch)
    {
        scratch[0] = 0;
        row.CopyTo(scratch.AsSpan(1));
        return scratch.AsSpan(0, row.Length + 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static ReadOnlySpan<byte> FilterRow(ReadOnlySpan<byte> row, ReadOnlySpan<byte> prior, byte[] scratch, int stride, int forcedFilter)
    {
        // The row above the first is defined as zeros; the sixth scratch slot holds them.
        var slot = stride + 1;
        if (prior.IsEmpty)
        {
            var zeros = scratch.AsSpan(5 * slot, stride);
            zeros.Clear();
            prior = zeros;
        }
        // One loop per filter, not a switch per byte: this runs on every byte of every image.
        var best = 0;
        var bestCost = long.MaxValue;
        for (var filter = 0; filter < 5; filter++)
        {
            if (forcedFilter >= 0 && filter != forcedFilter)
            {
                continue;
            }
            var output = scratch.AsSpan(filter * slot, slot);
            output[0] = (byte)filter;
            var cost = PngFilter.Apply(filter, row, prior, output[1..]);
            if (cost < bestCost)
            {
                bestCost = cost;
                best = filter;
            }
        }
        return scratch.AsSpan(best * slot, slot);
    }

    private static int WriteChunk(Span<byte> output, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        BinaryPrimitives.WriteInt32BigEndian(output, data.Length);
        type.CopyTo(output[4..]);
        data.CopyTo(output[8..]);
        var crc = Crc32.Update(Crc32.Update(Crc32.Initial, type), data);
        BinaryPrimitives.WriteUInt32BigEndian(output[(8 + data.Length)..], Crc32.Final(crc));
        return 12 + data.Length;
    }
}
