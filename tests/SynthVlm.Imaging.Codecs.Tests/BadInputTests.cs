using System.Buffers.Binary;
using FluentAssertions;

namespace SynthVlm.Imaging.Codecs.Tests;

/// <summary>Hostile and broken inputs: each is a typed exception naming the source and the reason.</summary>
public sealed class BadInputTests
{
    private const string Source = "suspect/input.bin";

    [Fact]
    public void Format_detection_ignores_the_file_name()
    {
        var dir = Directory.CreateTempSubdirectory("synthvlm-codecs-").FullName;
        try
        {
            var disguised = Path.Combine(dir, "really_a_png.jpg");
            File.Copy(Fixtures.PathOf("png_rgb8.png"), disguised);
            using var image = ImageCodec.DecodeFile(disguised);
            (image.Width, image.Height).Should().Be((61, 37));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, ImageFormat.Png)]
    [InlineData(new byte[] { 0xFF, 0xD8, 0xFF, 0xE0 }, ImageFormat.Jpeg)]
    [InlineData(new byte[] { 0x52, 0x49, 0x46, 0x46, 1, 2, 3, 4, 0x57, 0x45, 0x42, 0x50 }, ImageFormat.WebP)]
    [InlineData(new byte[] { 0x52, 0x49, 0x46, 0x46, 1, 2, 3, 4, 0x57, 0x41, 0x56, 0x45 }, ImageFormat.Unknown)]
    [InlineData(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, ImageFormat.Unknown)]
    [InlineData(new byte[] { 0xFF, 0xD8 }, ImageFormat.Unknown)]
    [InlineData(new byte[] { }, ImageFormat.Unknown)]
    public void DetectFormat_uses_magic_bytes(byte[] data, ImageFormat expected)
    {
        ImageCodec.DetectFormat(data).Should().Be(expected);
    }

    [Fact]
    public void Gif_is_refused_with_its_magic_bytes()
    {
        var gif = "GIF89a\x01\x00\x01\x00\x00\x00\x00;"u8.ToArray();
        var act = () => ImageCodec.Decode(gif, source: "cat.gif");
        act.Should().Throw<ImageFormatException>()
            .WithMessage("cat.gif: not a PNG, JPEG or WebP image (starts with 47 49 46 38)")
            .Which.ImageSource.Should().Be("cat.gif");
    }

    [Fact]
    public void Zero_length_input_is_refused()
    {
        var act = () => ImageCodec.Decode([], source: Source);
        act.Should().Throw<ImageFormatException>().WithMessage($"{Source}: empty (0 bytes)*");
    }

    [Fact]
    public void Zero_length_file_is_refused_with_its_path()
    {
        var path = Path.GetTempFileName();
        try
        {
            var act = () => ImageCodec.DecodeFile(path);
            act.Should().Throw<ImageFormatException>().Which.Message.Should().StartWith(path + ": empty");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Missing_file_is_a_FileNotFoundException_with_the_path()
    {
        var path = Path.Combine(Path.GetTempPath(), $"synthvlm-missing-{Guid.NewGuid():N}.png");
        var act = () => ImageCodec.DecodeFile(path);
        act.Should().Throw<FileNotFoundException>().Which.Message.Should().Contain(path);
    }

    [Fact]
    public void Random_garbage_is_refused()
    {
        var rng = new Random(42);
        for (var i = 0; i < 50; i++)
        {
            var bytes = new byte[rng.Next(1, 300)];
            rng.NextBytes(bytes);
            var act = () => ImageCodec.Decode(bytes, source: Source);
            act.Should().Throw<ImagingException>().Which.ImageSource.Should().Be(Source);
        }
    }

    [Theory]
    [InlineData(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, "libpng")]
    [InlineData(new byte[] { 0xFF, 0xD8, 0xFF }, "libjpeg-turbo")]
    [InlineData(new byte[] { 0x52, 0x49, 0x46, 0x46, 0, 0, 0, 0, 0x57, 0x45, 0x42, 0x50 }, "libwebp")]
    public void Garbage_after_valid_magic_reports_the_native_reason(byte[] magic, string library)
    {
        var rng = new Random(7);
        var tail = new byte[200];
        rng.NextBytes(tail);
        var act = () => ImageCodec.Decode([.. magic, .. tail], source: Source);
        act.Should().Throw<ImageFormatException>().Which.Message.Should().StartWith(Source + ": " + library);
    }

    [Theory]
    [InlineData("png_rgb8.png")]
    [InlineData("png_interlaced.png")]
    [InlineData("jpeg_baseline.jpg")]
    [InlineData("jpeg_progressive.jpg")]
    [InlineData("jpeg_cmyk.jpg")]
    [InlineData("webp_lossy.webp")]
    [InlineData("webp_lossless.webp")]
    public void Truncated_files_are_refused(string name)
    {
        var bytes = Fixtures.Bytes(name);
        // Inside the magic, the header, and the compressed data at several depths.
        int[] cuts = [1, 5, 12, 30, bytes.Length / 4, bytes.Length / 2, bytes.Length * 3 / 4, bytes.Length - 20];
        foreach (var cut in cuts)
        {
            var act = () => ImageCodec.Decode(bytes.AsSpan(0, cut), source: $"{name}[..{cut}]");
            var ex = act.Should().Throw<ImageFormatException>($"{name} cut at {cut} of {bytes.Length}").Which;
            ex.ImageSource.Should().Be($"{name}[..{cut}]");
            ex.Reason.Should().NotBeNullOrWhiteSpace();
        }
    }

    [Fact]
    public void Png_bomb_is_refused_before_allocation()
    {
        var png = PngWithHeader(20000, 20000);
        AssertRefusedCheaply(png, "PNG header declares 20000x20000 = 400000000 pixels, above the cap of 64000000 (DecodeOptions.MaxPixels)");
    }

    [Fact]
    public void Jpeg_bomb_is_refused_before_allocation()
    {
        var jpeg = Fixtures.Bytes("jpeg_baseline.jpg");
        var sof = FindMarker(jpeg, 0xC0);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 5), 20000);
        BinaryPrimitives.WriteUInt16BigEndian(jpeg.AsSpan(sof + 7), 20000);
        AssertRefusedCheaply(jpeg, "JPEG header declares 20000x20000 = 400000000 pixels, above the cap of 64000000 (DecodeOptions.MaxPixels)");
    }

    [Fact]
    public void WebP_bomb_is_refused_before_allocation()
    {
        // A lossless (VP8L) header declaring the format's largest size, 16383x16383.
        var webp = new byte[64];
        "RIFF"u8.CopyTo(webp);
        BinaryPrimitives.WriteInt32LittleEndian(webp.AsSpan(4), webp.Length - 8);
        "WEBPVP8L"u8.CopyTo(webp.AsSpan(8));
        BinaryPrimitives.WriteInt32LittleEndian(webp.AsSpan(16), webp.Length - 20);
        webp[20] = 0x2F;
        BinaryPrimitives.WriteUInt32LittleEndian(webp.AsSpan(21), 16382u | (16382u << 14));
        AssertRefusedCheaply(webp, "WebP header declares 16383x16383 = 268402689 pixels, above the cap of 64000000 (DecodeOptions.MaxPixels)");
    }

    [Fact]
    public void Png_with_zero_width_is_a_size_error()
    {
        var act = () => ImageCodec.Decode(PngWithHeader(0, 10), source: Source);
        act.Should().Throw<ImageSizeException>().WithMessage($"{Source}: the PNG header declares 0x10*");
    }

    [Fact]
    public void MaxPixels_is_configurable()
    {
        var act = () => ImageCodec.Decode(Fixtures.Bytes("webp_lossy.webp"), new DecodeOptions { MaxPixels = 100 }, Source);
        act.Should().Throw<ImageSizeException>().WithMessage($"{Source}: the WebP header declares 61x37 = 2257 pixels, above the cap of 100 (DecodeOptions.MaxPixels)");
    }

    [Theory]
    [InlineData(-1, 90, 90, "PngCompressionLevel")]
    [InlineData(10, 90, 90, "PngCompressionLevel")]
    [InlineData(6, 0, 90, "JpegQuality")]
    [InlineData(6, 101, 90, "JpegQuality")]
    [InlineData(6, 90, -1, "WebPQuality")]
    [InlineData(6, 90, 101, "WebPQuality")]
    public void Encode_option_out_of_range_names_the_option(int level, int jpeg, int webp, string option)
    {
        using var image = Pixels.Picture(4, 4);
        var options = new EncodeOptions { PngCompressionLevel = level, JpegQuality = jpeg, WebPQuality = webp };
        var act = () => ImageCodec.Encode(image, ImageFormat.Png, options);
        act.Should().Throw<ArgumentOutOfRangeException>().Where(e => e.ParamName == option && e.Message.Contains("EncodeOptions." + option));
    }

    [Fact]
    public void Unknown_extension_is_refused_and_nothing_is_written()
    {
        using var image = Pixels.Picture(4, 4);
        var path = Path.Combine(Path.GetTempPath(), $"synthvlm-{Guid.NewGuid():N}.gif");
        var act = () => ImageCodec.EncodeFile(image, path);
        act.Should().Throw<ImageFormatException>().WithMessage($"{path}: cannot encode to extension '.gif'*");
        File.Exists(path).Should().BeFalse();
    }

    [Fact]
    public void Encoding_Unknown_format_is_an_argument_error()
    {
        using var image = Pixels.Picture(4, 4);
        var act = () => ImageCodec.Encode(image, ImageFormat.Unknown);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("format");
    }

    private static void AssertRefusedCheaply(byte[] data, string reasonEnd)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var act = () => ImageCodec.Decode(data, source: Source);
        var ex = act.Should().Throw<ImageSizeException>().Which;
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        ex.Message.Should().Be($"{Source}: the {reasonEnd}");
        allocated.Should().BeLessThan(1 << 20, "the pixels must not be allocated before the size check");
    }

    private static byte[] PngWithHeader(int width, int height)
    {
        var png = new byte[8 + 25 + 12];
        new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }.CopyTo(png, 0);
        var ihdr = png.AsSpan(8);
        BinaryPrimitives.WriteInt32BigEndian(ihdr, 13);
        "IHDR"u8.CopyTo(ihdr[4..]);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[8..], width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[12..], height);
        ihdr[16] = 8;
        ihdr[17] = 2;
        BinaryPrimitives.WriteUInt32BigEndian(ihdr[21..], Crc32.Compute(ihdr.Slice(4, 17)));
        var iend = png.AsSpan(33);
        "IEND"u8.CopyTo(iend[4..]);
        BinaryPrimitives.WriteUInt32BigEndian(iend[8..], Crc32.Compute("IEND"u8));
        return png;
    }

    private static int FindMarker(byte[] jpeg, byte marker)
    {
        for (var i = 2; i + 1 < jpeg.Length; i++)
        {
            if (jpeg[i] == 0xFF && jpeg[i + 1] == marker)
            {
                return i;
            }
        }
        throw new InvalidDataException($"marker FF{marker:X2} not found");
    }
}
