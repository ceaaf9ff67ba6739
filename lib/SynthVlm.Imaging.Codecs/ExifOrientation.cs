using System.Buffers.Binary;

namespace SynthVlm.Imaging.Codecs;

/// <summary>
/// EXIF orientation (TIFF tag 0x0112 in IFD0 of a JPEG's APP1 "Exif" segment): reading it from
/// the marker stream, and turning decoded pixels upright the way Pillow's
/// <c>ImageOps.exif_transpose</c> does. Anything malformed reads as 1 (as stored): a broken
/// EXIF block should not make an otherwise good picture undecodable.
/// </summary>
internal static class ExifOrientation
{
    private const ushort OrientationTag = 0x0112;

    /// <summary>The orientation 1..8 declared by the JPEG, or 1 when there is none.</summary>
    internal static int ReadFromJpeg(ReadOnlySpan<byte> jpeg)
    {
        var at = 2; // after SOI
        while (at + 4 <= jpeg.Length)
        {
            if (jpeg[at] != 0xFF)
            {
                return 1;
            }
            var marker = jpeg[at + 1];
            if (marker == 0xFF)
            {
                at++; // fill byte
                continue;
            }
            if (marker is 0x01 or (>= 0xD0 and <= 0xD8))
            {
                at += 2; // markers without a length
                continue;
            }
            if (marker is 0xDA or 0xD9)
            {
                return 1; // start of scan / end of image: metadata comes before
            }
            var length = BinaryPrimitives.ReadUInt16BigEndian(jpeg[(at + 2)..]);
            if (length < 2 || at + 2 + length > jpeg.Length)
            {
                return 1;
            }
            var segment = jpeg.Slice(at + 4, length - 2);
            if (marker == 0xE1 && segment.StartsWith("Exif\0\0"u8))
            {
                return ReadFromTiff(segment[6..]);
            }
            at += 2 + length;
        }
        return 1;
    }

    /// <summary>Reads tag 0x0112 from IFD0 of a TIFF block ("II" or "MM" byte order).</summary>
    internal static int ReadFromTiff(ReadOnlySpan<byte> tiff)
    {
        if (tiff.Length < 8)
        {
            return 1;
        }
        bool little;
        if (tiff[0] == 'I' && tiff[1] == 'I')
        {
            little = true;
        }
        else if (tiff[0] == 'M' && tiff[1] == 'M')
        {
            little = false;
        }
        else
        {
            return 1;
        }
        if (U16(tiff[2..], little) != 42)
        {
            return 1;
        }
        var ifd = U32(tiff[4..], little);
        if (ifd > (uint)(tiff.Length - 2))
        {
            return 1;
        }
        var count = U16(tiff[(int)ifd..], little);
        var entries = (int)ifd + 2;
        for (var i = 0; i < count; i++)
        {
            var e = entries + (i * 12);
            if (e + 12 > tiff.Length)
            {
                return 1;
            }
            if (U16(tiff[e..], little) != OrientationTag)
            {
                continue;
            }
            const ushort TypeShort = 3;
            if (U16(tiff[(e + 2)..], little) != TypeShort || U32(tiff[(e + 4)..], little) < 1)
            {
                return 1;
            }
            int value = U16(tiff[(e + 8)..], little);
            return value is >= 1 and <= 8 ? value : 1;
        }
        return 1;
    }

    /// <summary>
    /// A new image with <paramref name="source"/> turned upright for <paramref name="orientation"/>
    /// (5–8 swap width and height). Each destination pixel reads the source at
    /// <c>origin + x·stepX + y·stepY</c> (in pixels), which covers all eight cases in one loop.
    /// </summary>
    internal static RgbImage Apply(RgbImage source, int orientation)
    {
        int w = source.Width, h = source.Height;
        var (origin, stepX, stepY) = orientation switch
        {
            2 => (w - 1, -1, w),                         // mirror horizontally
            3 => (((h - 1) * w) + w - 1, -1, -w),        // rotate 180
            4 => ((h - 1) * w, 1, -w),                   // mirror vertically
            5 => (0, w, 1),                              // transpose
            6 => ((h - 1) * w, -w, 1),                   // rotate 90 clockwise
            7 => (((h - 1) * w) + w - 1, -w, -1),        // transverse
            8 => (w - 1, w, -1),                         // rotate 90 counter-clockwise
            _ => (0, 1, w),
        };
        var swap = orientation >= 5;
        var result = RgbImage.Allocate(swap ? h : w, swap ? w : h);
        ReadOnlySpan<byte> src = source.Pixels;
        var dst = result.Pixels;
        var dw = result.Width;
        for (var y = 0; y < result.Height; y++)
        {
            var s = origin + (y * stepY);
            var row = dst.Slice(y * dw * 3, dw * 3);
            for (var x = 0; x < row.Length; x += 3, s += stepX)
            {
                var o = s * 3;
                row[x] = src[o];
                row[x + 1] = src[o + 1];
                row[x + 2] = src[o + 2];
            }
        }
        return result;
    }

    private static ushort U16(ReadOnlySpan<byte> b, bool little) =>
        little ? BinaryPrimitives.ReadUInt16LittleEndian(b) : BinaryPrimitives.ReadUInt16BigEndian(b);

    private static uint U32(ReadOnlySpan<byte> b, bool little) =>
        little ? BinaryPrimitives.ReadUInt32LittleEndian(b) : BinaryPrimitives.ReadUInt32BigEndian(b);
}
