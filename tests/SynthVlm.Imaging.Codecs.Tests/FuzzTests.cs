using System.Diagnostics;
using FluentAssertions;
using SynthVlm.Testing;
using Xunit.Abstractions;

namespace SynthVlm.Imaging.Codecs.Tests;

/// <summary>
/// Seeded mutation fuzzing of the fixtures: every mutant either decodes or throws an
/// <see cref="ImagingException"/>; nothing else escapes, nothing crashes or hangs. The cap on
/// pixels is lowered so a mutated header cannot make one case slow.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    private static readonly string[] Seeds =
    [
        "png_rgb8.png", "png_palette_trns.png", "png_interlaced_rgba.png", "png_rgb16.png",
        "jpeg_baseline.jpg", "jpeg_progressive.jpg", "jpeg_cmyk.jpg", "jpeg_orientation_6_be.jpg",
        "webp_lossy.webp", "webp_lossless.webp",
    ];

    [Fact]
    public async Task Two_thousand_mutants_decode_or_throw_ImagingException()
    {
        var (decoded, refused) = await Task.Run(() => Run(2000, seed: 20261122)).WithTimeout(TimeSpan.FromSeconds(45));

        output.WriteLine($"2000 mutants: {decoded} decoded, {refused} refused with ImagingException");
        (decoded + refused).Should().Be(2000);
        refused.Should().BeGreaterThan(0, "some mutants must be broken");
        decoded.Should().BeGreaterThan(0, "some mutants (e.g. changed pixel data) must still decode");
    }

    private static (int Decoded, int Refused) Run(int count, int seed)
    {
        var originals = Seeds.Select(Fixtures.Bytes).ToArray();
        var rng = new Random(seed);
        var options = new DecodeOptions { MaxPixels = 1_000_000 };
        int decoded = 0, refused = 0;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            var which = i % originals.Length;
            var mutant = Mutate(originals[which], rng);
            try
            {
                using var image = ImageCodec.Decode(mutant, options, $"mutant {i} of {Seeds[which]}");
                image.PixelCount.Should().BeLessThanOrEqualTo(1_000_000);
                decoded++;
            }
            catch (ImagingException ex)
            {
                ex.Reason.Should().NotBeNullOrWhiteSpace();
                ex.ImageSource.Should().Be($"mutant {i} of {Seeds[which]}");
                refused++;
            }
        }
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(40));
        return (decoded, refused);
    }

    private static byte[] Mutate(byte[] original, Random rng)
    {
        var bytes = (byte[])original.Clone();
        switch (rng.Next(4))
        {
            case 0: // a few random bytes
                for (var k = rng.Next(1, 9); k > 0; k--)
                {
                    bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256);
                }
                return bytes;
            case 1: // single bit flips, often in the headers
                for (var k = rng.Next(1, 4); k > 0; k--)
                {
                    var at = rng.Next(2) == 0 ? rng.Next(Math.Min(64, bytes.Length)) : rng.Next(bytes.Length);
                    bytes[at] ^= (byte)(1 << rng.Next(8));
                }
                return bytes;
            case 2: // truncation plus damage
                var cut = bytes.AsSpan(0, rng.Next(1, bytes.Length)).ToArray();
                cut[rng.Next(cut.Length)] = (byte)rng.Next(256);
                return cut;
            default: // a block of bytes duplicated or zeroed
                var start = rng.Next(bytes.Length);
                var len = Math.Min(rng.Next(1, 64), bytes.Length - start);
                if (rng.Next(2) == 0)
                {
                    bytes.AsSpan(start, len).Clear();
                    return bytes;
                }
                return [.. bytes.AsSpan(0, start + len), .. bytes.AsSpan(start)];
        }
    }
}
