using System.Text.Json;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Blip.Tests;

public sealed class BlipImageProcessorTests
{
    public static TheoryData<string, int, string, string> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(BlipFixtures.Preprocess, "cases.json")));
        var data = new TheoryData<string, int, string, string>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("image").GetString()!, c.GetProperty("size").GetInt32(), c.GetProperty("flip").GetString()!, c.GetProperty("values").GetString()!);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_Pillow_and_numpy_BlipImageProcessor(string image, int size, string flip, string values)
    {
        var expected = ReadFloats(Path.Combine(BlipFixtures.Preprocess, values));
        using var decoded = ImageCodec.DecodeFile(Path.Combine(BlipFixtures.Preprocess, image));
        using var flipped = BlipImageProcessor.Flip(decoded, flip.Contains('h', StringComparison.Ordinal), flip.Contains('v', StringComparison.Ordinal));
        var processor = BlipImageProcessor.OpenAiClip(size);
        var actual = new float[processor.TensorLength];
        processor.Preprocess(flipped, actual);
        actual.Length.Should().Be(expected.Length);
        var worst = 0f;
        for (var i = 0; i < actual.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]));
        }
        worst.Should().BeLessThan(1e-6f, $"{image} at {size}, flip '{flip}': Pillow-exact resize and the same float arithmetic");
    }

    [Fact]
    public void Flip_mirrors_left_right_and_top_bottom()
    {
        // 3x2 image with distinct pixels: value = 10 * (y * 3 + x) in every channel.
        var pixels = new byte[3 * 2 * 3];
        for (var p = 0; p < 6; p++)
        {
            pixels.AsSpan(p * 3, 3).Fill((byte)(10 * p));
        }
        using var image = RgbImage.FromPixels(3, 2, pixels);
        static byte[] Reds(RgbImage i) => [.. Enumerable.Range(0, 6).Select(p => i.Pixels[p * 3])];

        using var h = BlipImageProcessor.Flip(image, horizontal: true, vertical: false);
        Reds(h).Should().Equal(20, 10, 0, 50, 40, 30);
        using var v = BlipImageProcessor.Flip(image, horizontal: false, vertical: true);
        Reds(v).Should().Equal(30, 40, 50, 0, 10, 20);
        using var both = BlipImageProcessor.Flip(image, horizontal: true, vertical: true);
        Reds(both).Should().Equal(50, 40, 30, 20, 10, 0);
        Reds(image).Should().Equal(0, 10, 20, 30, 40, 50);
    }

    [Fact]
    public void Destination_too_small_is_refused()
    {
        using var image = RgbImage.Allocate(4, 4);
        var act = () => BlipImageProcessor.OpenAiClip(8).Preprocess(image, new float[10]);
        act.Should().Throw<ArgumentException>().WithMessage("*holds 10 floats; one image needs 192*");
    }

    internal static float[] ReadFloats(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var floats = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, floats, 0, bytes.Length);
        return floats;
    }
}
