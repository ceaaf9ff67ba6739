using System.Globalization;
using System.Security.Cryptography;
using FluentAssertions;
using SynthVlm.Testing;

namespace SynthVlm.Imaging.Codecs.Tests;

/// <summary>
/// Encode then decode. PNG and lossless WebP must be exact. Lossy bounds on the photo-like
/// <see cref="Pixels.Picture"/> (with ±6 seeded noise, the hardest part to keep) at the default
/// qualities (90): JPEG ≥ 30 dB PSNR (measured 32.3 dB), WebP ≥ 30 dB (measured 32.5 dB);
/// a broken colour conversion, channel swap or row misalignment lands far below 20 dB.
/// </summary>
public sealed class RoundTripTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 2)]
    [InlineData(61, 37)]
    [InlineData(256, 128)]
    public void Png_round_trips_exactly(int width, int height)
    {
        using var image = Pixels.Picture(width, height);
        var bytes = ImageCodec.Encode(image, ImageFormat.Png);
        ImageCodec.DetectFormat(bytes).Should().Be(ImageFormat.Png);
        using var back = ImageCodec.Decode(bytes);
        (back.Width, back.Height).Should().Be((width, height));
        back.Pixels.ToArray().Should().Equal(image.Pixels.ToArray());
    }

    [Fact]
    public void Png_levels_0_and_9_decode_exactly_and_9_is_smaller()
    {
        using var image = Pixels.Picture(200, 150);
        var stored = ImageCodec.Encode(image, ImageFormat.Png, new EncodeOptions { PngCompressionLevel = 0 });
        var smallest = ImageCodec.Encode(image, ImageFormat.Png, new EncodeOptions { PngCompressionLevel = 9 });
        using var a = ImageCodec.Decode(stored);
        using var b = ImageCodec.Decode(smallest);
        a.Pixels.ToArray().Should().Equal(image.Pixels.ToArray());
        b.Pixels.ToArray().Should().Equal(image.Pixels.ToArray());
        smallest.Length.Should().BeLessThan(stored.Length);
        stored.Length.Should().BeGreaterThan(image.Pixels.Length, "level 0 stores the rows uncompressed");
    }

    [Fact]
    public void Png_of_a_flat_image_compresses_to_almost_nothing()
    {
        using var image = RgbImage.Allocate(300, 200);
        image.Pixels.Fill(77);
        ImageCodec.Encode(image, ImageFormat.Png, new EncodeOptions { PngCompressionLevel = 9 }).Length.Should().BeLessThan(1000);
    }

    [Fact]
    public void WebP_lossless_round_trips_exactly()
    {
        using var image = Pixels.Picture(97, 53);
        var bytes = ImageCodec.Encode(image, ImageFormat.WebP, new EncodeOptions { WebPLossless = true });
        ImageCodec.DetectFormat(bytes).Should().Be(ImageFormat.WebP);
        using var back = ImageCodec.Decode(bytes);
        back.Pixels.ToArray().Should().Equal(image.Pixels.ToArray());
    }

    [Fact]
    public void Jpeg_round_trip_is_close()
    {
        using var image = Pixels.Picture(256, 192);
        var bytes = ImageCodec.Encode(image, ImageFormat.Jpeg);
        ImageCodec.DetectFormat(bytes).Should().Be(ImageFormat.Jpeg);
        using var back = ImageCodec.Decode(bytes);
        (back.Width, back.Height).Should().Be((256, 192));
        Pixels.Psnr(back.Pixels, image.Pixels).Should().BeGreaterThan(30);
    }

    [Fact]
    public void Jpeg_quality_orders_size_and_fidelity()
    {
        using var image = Pixels.Picture(256, 192);
        var low = ImageCodec.Encode(image, ImageFormat.Jpeg, new EncodeOptions { JpegQuality = 20 });
        var high = ImageCodec.Encode(image, ImageFormat.Jpeg, new EncodeOptions { JpegQuality = 98 });
        low.Length.Should().BeLessThan(high.Length);
        using var lowBack = ImageCodec.Decode(low);
        using var highBack = ImageCodec.Decode(high);
        Pixels.Psnr(highBack.Pixels, image.Pixels).Should().BeGreaterThan(Pixels.Psnr(lowBack.Pixels, image.Pixels));
    }

    [Fact]
    public void WebP_lossy_round_trip_is_close()
    {
        using var image = Pixels.Picture(256, 192);
        var bytes = ImageCodec.Encode(image, ImageFormat.WebP);
        using var back = ImageCodec.Decode(bytes);
        Pixels.Psnr(back.Pixels, image.Pixels).Should().BeGreaterThan(30, "measured 32.5");
    }

    [Fact]
    public async Task Pillow_reads_our_png_webp_and_jpeg()
    {
        using var image = Pixels.Picture(129, 65, seed: 3);
        var dir = Directory.CreateTempSubdirectory("synthvlm-codecs-").FullName;
        try
        {
            var png = Path.Combine(dir, "a.png");
            var webp = Path.Combine(dir, "a.webp");
            var jpg = Path.Combine(dir, "a.jpg");
            ImageCodec.EncodeFile(image, png, new EncodeOptions { PngCompressionLevel = 9 });
            ImageCodec.EncodeFile(image, webp, new EncodeOptions { WebPLossless = true });
            ImageCodec.EncodeFile(image, jpg);
            var script = Path.Combine(dir, "hash.py");
            await File.WriteAllTextAsync(script, """
                import hashlib, sys
                from PIL import Image
                for p in sys.argv[1:]:
                    with Image.open(p) as im:
                        im.load()
                        print(im.format, im.width, im.height, hashlib.sha256(im.convert("RGB").tobytes()).hexdigest())
                """.Replace("\r", "", StringComparison.Ordinal)).WithTimeout();

            var result = await ChildProcess.RunPythonAsync(script, [png, webp, jpg]).WithTimeout();

            result.ExitCode.Should().Be(0, result.StandardError);
            var expected = Convert.ToHexStringLower(SHA256.HashData(image.Pixels));
            result.Lines.Should().HaveCount(3);
            result.Lines[0].Should().Be(string.Create(CultureInfo.InvariantCulture, $"PNG 129 65 {expected}"));
            result.Lines[1].Should().Be(string.Create(CultureInfo.InvariantCulture, $"WEBP 129 65 {expected}"));
            result.Lines[2].Should().StartWith("JPEG 129 65 ");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void EncodeFile_writes_atomically_and_overwrites()
    {
        var dir = Directory.CreateTempSubdirectory("synthvlm-codecs-").FullName;
        try
        {
            var path = Path.Combine(dir, "out.PNG");
            using var first = Pixels.Picture(10, 10, seed: 1);
            using var second = Pixels.Picture(12, 8, seed: 2);
            ImageCodec.EncodeFile(first, path);
            ImageCodec.EncodeFile(second, path);

            Directory.GetFiles(dir).Should().ContainSingle().Which.Should().Be(path, "no temporary file is left behind");
            using var back = ImageCodec.DecodeFile(path);
            back.Pixels.ToArray().Should().Equal(second.Pixels.ToArray());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void EncodeFile_into_a_missing_folder_reports_the_folder()
    {
        using var image = Pixels.Picture(4, 4);
        var path = Path.Combine(Path.GetTempPath(), $"synthvlm-missing-{Guid.NewGuid():N}", "a.png");
        var act = () => ImageCodec.EncodeFile(image, path);
        act.Should().Throw<DirectoryNotFoundException>();
    }

    [Theory]
    [InlineData("a.jpg", ImageFormat.Jpeg)]
    [InlineData("a.JPEG", ImageFormat.Jpeg)]
    [InlineData("x/y.webp", ImageFormat.WebP)]
    [InlineData("b.png", ImageFormat.Png)]
    public void Extension_names_the_format(string path, ImageFormat format)
    {
        ImageCodec.FormatFromExtension(path).Should().Be(format);
    }

    [Fact]
    public void Crc32_matches_the_check_value()
    {
        Crc32.Compute("123456789"u8).Should().Be(0xCBF43926u);
        var long1 = Enumerable.Range(0, 1000).Select(i => (byte)(i * 31)).ToArray();
        Crc32.Compute(long1).Should().Be(Crc32Bytewise(long1));
    }

    private static uint Crc32Bytewise(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
            }
        }
        return ~crc;
    }
}
