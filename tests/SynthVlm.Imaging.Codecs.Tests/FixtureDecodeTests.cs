using FluentAssertions;
using SynthVlm.Testing;

namespace SynthVlm.Imaging.Codecs.Tests;

/// <summary>
/// Every fixture decodes to Pillow's pixels. Tolerances live in index.json, set by the
/// generator script; their reasons:
/// PNG, WebP (lossless and lossy): exact — the same libwebp decodes for Pillow, and PNG
/// decoding is lossless. 16-bit PNG: max ±1, mean ≤ 0.25 — libpng narrows 16→8 bits with
/// rounding, Pillow (and the high-byte reference for gray) truncates; measured mean 0.19 (RGB)
/// and 0.06 (gray). JPEG (CMYK and all EXIF orientations included): max ±1, mean ≤ 0.1 — both
/// sides are the system libjpeg-turbo with the accurate integer IDCT and smooth upsampling,
/// measured identical here; the margin only covers another build's SIMD paths.
/// </summary>
public sealed class FixtureDecodeTests
{
    public static TheoryData<FixtureEntry> All()
    {
        var data = new TheoryData<FixtureEntry>();
        foreach (var entry in Fixtures.Index)
        {
            data.Add(entry);
        }
        return data;
    }

    [Fact]
    public void Index_covers_every_required_variant()
    {
        var names = Fixtures.Index.Select(e => e.Name).ToList();
        names.Should().Contain(["png_rgb8.png", "png_rgba8.png", "png_gray8.png", "png_gray_alpha8.png", "png_palette.png",
            "png_palette_trns.png", "png_rgb16.png", "png_gray16.png", "png_interlaced.png", "png_gamma_linear.png", "jpeg_baseline.jpg",
            "jpeg_progressive.jpg", "jpeg_gray.jpg", "jpeg_cmyk.jpg", "webp_lossy.webp", "webp_lossless.webp"]);
        names.Where(n => n.StartsWith("jpeg_orientation_", StringComparison.Ordinal)).Should().HaveCount(9);
    }

    [Theory]
    [MemberData(nameof(All))]
    public void Decode_matches_Pillow(FixtureEntry fixture)
    {
        var (w, h, expected) = Fixtures.Reference(fixture.Name);
        using var image = ImageCodec.DecodeFile(Fixtures.PathOf(fixture.Name));

        image.Width.Should().Be(w);
        image.Height.Should().Be(h);
        (image.Width, image.Height).Should().Be((fixture.Width, fixture.Height));
        ImageCodec.DetectFormat(Fixtures.Bytes(fixture.Name)).ToString().Should().BeEquivalentTo(fixture.Format);
        var (maxAbs, mean) = Pixels.Diff(image.Pixels, expected);
        maxAbs.Should().BeLessThanOrEqualTo(fixture.MaxAbs, $"{fixture.Name} max abs diff vs Pillow (mean {mean:F4})");
        mean.Should().BeLessThanOrEqualTo(fixture.Mean, $"{fixture.Name} mean abs diff vs Pillow");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void Exif_orientation_turns_the_picture_upright(int orientation)
    {
        using var stored = ImageCodec.Decode(Fixtures.Bytes($"jpeg_orientation_{orientation}.jpg"), new DecodeOptions { ApplyExifOrientation = false });
        using var upright = ImageCodec.Decode(Fixtures.Bytes($"jpeg_orientation_{orientation}.jpg"));
        var (w, h, expected) = Fixtures.Reference($"jpeg_orientation_{orientation}.jpg");

        (stored.Width, stored.Height).Should().Be((61, 37), "without orientation the stored raster comes back");
        (upright.Width, upright.Height).Should().Be(orientation >= 5 ? (37, 61) : (61, 37));
        (upright.Width, upright.Height).Should().Be((w, h));
        Pixels.Diff(upright.Pixels, expected).MaxAbs.Should().BeLessThanOrEqualTo(1);
        if (orientation is 2 or 3 or 4)
        {
            Pixels.Diff(stored.Pixels, upright.Pixels).MaxAbs.Should().BeGreaterThan(2, "a mirrored or rotated picture differs from the stored one");
        }
    }

    [Fact]
    public async Task Concurrent_decodes_agree_with_sequential_ones()
    {
        var names = Fixtures.Index.Select(e => e.Name).ToArray();
        var expected = names.ToDictionary(n => n, n =>
        {
            using var image = ImageCodec.DecodeFile(Fixtures.PathOf(n));
            return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(image.Pixels));
        });

        var work = Enumerable.Range(0, 8 * names.Length).Select(i => Task.Run(() =>
        {
            var name = names[i % names.Length];
            using var image = ImageCodec.Decode(Fixtures.Bytes(name));
            return (name, hash: Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(image.Pixels)));
        }));
        var results = await Task.WhenAll(work).WithTimeout();

        results.Should().OnlyContain(r => expected[r.name] == r.hash);
    }

    [Fact]
    public void Missing_library_message_names_the_library_and_the_fix()
    {
        NativeLibraries.MissingMessage(NativeLibraries.TurboJpeg).Should()
            .Be("libturbojpeg.so.0 could not be loaded: install it with `bash eng/provision.sh` (Debian package libturbojpeg0).");
        NativeLibraries.MissingMessage(NativeLibraries.Png).Should().StartWith("libpng16.so.16 ");
        NativeLibraries.MissingMessage(NativeLibraries.WebP).Should().StartWith("libwebp.so.7 ");
    }

    [Fact]
    public void Big_endian_exif_is_read()
    {
        ExifOrientation.ReadFromJpeg(Fixtures.Bytes("jpeg_orientation_6_be.jpg")).Should().Be(6);
        ExifOrientation.ReadFromJpeg(Fixtures.Bytes("jpeg_orientation_6.jpg")).Should().Be(6);
        ExifOrientation.ReadFromJpeg(Fixtures.Bytes("jpeg_baseline.jpg")).Should().Be(1);
    }

    [Theory]
    [InlineData(new byte[] { })]
    [InlineData(new byte[] { (byte)'I', (byte)'I', 42, 0, 200, 0, 0, 0 })]
    [InlineData(new byte[] { (byte)'X', (byte)'X', 42, 0, 8, 0, 0, 0 })]
    [InlineData(new byte[] { (byte)'M', (byte)'M', 0, 42, 0, 0, 0, 8, 0, 5, 0x01, 0x12, 0, 3 })]
    [InlineData(new byte[] { (byte)'I', (byte)'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 9, 0, 0, 0 })]
    public void Malformed_exif_reads_as_upright(byte[] tiff)
    {
        ExifOrientation.ReadFromTiff(tiff).Should().Be(1);
    }

    [Fact]
    public void Well_formed_little_endian_tiff_is_read()
    {
        byte[] tiff = [(byte)'I', (byte)'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 8, 0, 0, 0];
        ExifOrientation.ReadFromTiff(tiff).Should().Be(8);
    }

    [Fact]
    public void Cmyk_conversion_follows_Pillow_formula()
    {
        // Inverted (Adobe) storage: 255 means 0 % ink. No ink → white; full K → black.
        byte[] cmyk = [255, 255, 255, 255, 0, 0, 0, 0, 0, 255, 255, 255, 128, 128, 128, 128];
        var rgb = new byte[12];
        JpegCodec.InvertedCmykToRgb(cmyk, rgb);
        rgb.Should().Equal(255, 255, 255, 0, 0, 0, 0, 255, 255, 64, 64, 64);
    }
}
