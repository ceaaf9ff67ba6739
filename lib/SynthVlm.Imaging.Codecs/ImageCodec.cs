using System.Buffers;

namespace SynthVlm.Imaging.Codecs;

/// <summary>
/// Reads PNG, JPEG and WebP into <see cref="RgbImage"/> and writes them back. Decoding detects
/// the format from the bytes (never the file name), reads the header first and refuses empty or
/// oversized images before allocating pixels. Every decoding error is an
/// <see cref="ImagingException"/> whose message names the source and the reason.
/// Thread-safe: each call uses its own native decoder state.
/// </summary>
public static class ImageCodec
{
    /// <summary>The format the bytes start with (magic bytes only), or <see cref="ImageFormat.Unknown"/>.</summary>
    public static ImageFormat DetectFormat(ReadOnlySpan<byte> data)
    {
        if (data.StartsWith((ReadOnlySpan<byte>)[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        {
            return ImageFormat.Png;
        }
        if (data.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]))
        {
            return ImageFormat.Jpeg;
        }
        if (data.Length >= 12 && data.StartsWith("RIFF"u8) && data[8..].StartsWith("WEBP"u8))
        {
            return ImageFormat.WebP;
        }
        return ImageFormat.Unknown;
    }

    /// <summary>
    /// Decodes a PNG, JPEG or WebP image to RGB8. Alpha is dropped (not composited), as
    /// Pillow's <c>convert('RGB')</c> does; 16-bit PNG samples are narrowed to 8 bits; a JPEG's
    /// EXIF orientation is applied unless <see cref="DecodeOptions.ApplyExifOrientation"/> is false.
    /// </summary>
    /// <param name="data">The encoded image.</param>
    /// <param name="options">Limits and behaviour; null for <see cref="DecodeOptions.Default"/>.</param>
    /// <param name="source">Named in every error (e.g. the file path); null when unknown.</param>
    /// <exception cref="ImageFormatException">Not a supported format, or truncated or corrupt (the native library's message).</exception>
    /// <exception cref="ImageSizeException">The header declares no pixels or more than <see cref="DecodeOptions.MaxPixels"/>.</exception>
    public static RgbImage Decode(ReadOnlySpan<byte> data, DecodeOptions? options = null, string? source = null)
    {
        options ??= DecodeOptions.Default;
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxPixels, 1, "options.MaxPixels");
        if (data.IsEmpty)
        {
            throw new ImageFormatException(source, "empty (0 bytes): not a PNG, JPEG or WebP image");
        }
        return DetectFormat(data) switch
        {
            ImageFormat.Png => PngCodec.Decode(data, options, source),
            ImageFormat.Jpeg => JpegCodec.Decode(data, options, source),
            ImageFormat.WebP => WebPCodec.Decode(data, options, source),
            _ => throw new ImageFormatException(source, $"not a PNG, JPEG or WebP image (starts with {SpacedHex(data[..Math.Min(4, data.Length)])})"),
        };
    }

    /// <summary>
    /// Reads and decodes a file, with the path as the error source. The bytes are read into a
    /// pooled buffer. A missing file or folder throws <see cref="FileNotFoundException"/> /
    /// <see cref="DirectoryNotFoundException"/> (an I/O error, not an image error), with the path.
    /// </summary>
    /// <inheritdoc cref="Decode" path="/exception"/>
    public static RgbImage DecodeFile(string path, DecodeOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        var length = RandomAccess.GetLength(file);
        if (length > int.MaxValue)
        {
            throw new ImageSizeException(path, $"the file is {length} bytes, too large to decode");
        }
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(length, 1));
        try
        {
            var read = 0;
            while (read < length)
            {
                var n = RandomAccess.Read(file, buffer.AsSpan(read, (int)length - read), read);
                if (n == 0)
                {
                    break; // the file shrank while being read; decode what is there
                }
                read += n;
            }
            return Decode(buffer.AsSpan(0, read), options, path);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Encodes the image as <paramref name="format"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (the exception names it), or the format is <see cref="ImageFormat.Unknown"/>.</exception>
    /// <exception cref="ImageSizeException">The image is too large for the format (WebP: 16383 per side).</exception>
    public static byte[] Encode(RgbImage image, ImageFormat format, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        options ??= EncodeOptions.Default;
        options.Validate();
        return format switch
        {
            ImageFormat.Png => PngCodec.Encode(image, options.PngCompressionLevel),
            ImageFormat.Jpeg => JpegCodec.Encode(image, options.JpegQuality),
            ImageFormat.WebP => WebPCodec.Encode(image, options.WebPQuality, options.WebPLossless),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "Encode needs Png, Jpeg or WebP."),
        };
    }

    /// <summary>
    /// Encodes the image in the format named by the extension (.png, .jpg/.jpeg, .webp; any
    /// case) and writes it atomically: to a temporary file in the same folder, then renamed over
    /// <paramref name="path"/>, so readers never see a half-written image.
    /// </summary>
    /// <exception cref="ImageFormatException">The extension names no supported format.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static void EncodeFile(RgbImage image, string path, EncodeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var format = FormatFromExtension(path);
        var bytes = Encode(image, format, options);
        var full = Path.GetFullPath(path);
        var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1, FileOptions.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
            throw;
        }
    }

    /// <summary>The format a file extension names (.png, .jpg, .jpeg, .webp; any case).</summary>
    /// <exception cref="ImageFormatException">Any other extension.</exception>
    public static ImageFormat FormatFromExtension(string path)
    {
        var ext = Path.GetExtension(path);
        return ext.ToUpperInvariant() switch
        {
            ".PNG" => ImageFormat.Png,
            ".JPG" or ".JPEG" => ImageFormat.Jpeg,
            ".WEBP" => ImageFormat.WebP,
            _ => throw new ImageFormatException(path, $"cannot encode to extension '{ext}': use .png, .jpg, .jpeg or .webp"),
        };
    }

    private static string SpacedHex(ReadOnlySpan<byte> bytes)
    {
        var hex = Convert.ToHexString(bytes);
        return string.Join(' ', Enumerable.Range(0, bytes.Length).Select(i => hex.Substring(i * 2, 2)));
    }
}
