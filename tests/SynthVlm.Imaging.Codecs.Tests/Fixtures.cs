using System.Text;
using System.Text.Json;
using SynthVlm.Testing;

namespace SynthVlm.Imaging.Codecs.Tests;

/// <summary>One entry of fixtures/index.json (written by fixtures/make_codec_fixtures.py).</summary>
public sealed record FixtureEntry(string Name, int Width, int Height, string Format, int MaxAbs, double Mean, string? Note)
{
    public override string ToString() => Name;
}

/// <summary>The committed fixtures and their Pillow-decoded reference pixels.</summary>
internal static class Fixtures
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    public static string Directory { get; } = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Imaging.Codecs.Tests", "fixtures");

    public static IReadOnlyList<FixtureEntry> Index { get; } =
        JsonSerializer.Deserialize<List<FixtureEntry>>(File.ReadAllText(Path.Combine(Directory, "index.json")), Json)!;

    public static string PathOf(string name) => Path.Combine(Directory, name);

    public static byte[] Bytes(string name) => File.ReadAllBytes(PathOf(name));

    /// <summary>Reads the binary PPM (P6, maxval 255) Pillow wrote as the reference.</summary>
    public static (int Width, int Height, byte[] Pixels) Reference(string name)
    {
        var bytes = File.ReadAllBytes(PathOf(name + ".ppm"));
        var at = 0;
        string Token()
        {
            while (char.IsWhiteSpace((char)bytes[at]))
            {
                at++;
            }
            var start = at;
            while (!char.IsWhiteSpace((char)bytes[at]))
            {
                at++;
            }
            return Encoding.ASCII.GetString(bytes, start, at - start);
        }
        if (Token() != "P6")
        {
            throw new InvalidDataException($"{name}.ppm is not a binary PPM");
        }
        var w = int.Parse(Token(), System.Globalization.CultureInfo.InvariantCulture);
        var h = int.Parse(Token(), System.Globalization.CultureInfo.InvariantCulture);
        if (Token() != "255")
        {
            throw new InvalidDataException($"{name}.ppm is not 8-bit");
        }
        at++; // the single whitespace byte before the raster
        return (w, h, bytes.AsSpan(at, w * h * 3).ToArray());
    }
}

/// <summary>Pixel comparisons and deterministic test pictures.</summary>
internal static class Pixels
{
    public static (int MaxAbs, double Mean) Diff(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.Length != b.Length)
        {
            throw new ArgumentException($"lengths differ: {a.Length} vs {b.Length}");
        }
        var max = 0;
        long sum = 0;
        for (var i = 0; i < a.Length; i++)
        {
            var d = Math.Abs(a[i] - b[i]);
            max = Math.Max(max, d);
            sum += d;
        }
        return (max, a.Length == 0 ? 0 : (double)sum / a.Length);
    }

    public static double Psnr(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        double se = 0;
        for (var i = 0; i < a.Length; i++)
        {
            double d = a[i] - b[i];
            se += d * d;
        }
        var mse = se / a.Length;
        return mse == 0 ? double.PositiveInfinity : 10 * Math.Log10(255.0 * 255.0 / mse);
    }

    /// <summary>A photo-like picture: smooth gradients, a few hard-edged shapes, mild seeded noise.</summary>
    public static RgbImage Picture(int width, int height, int seed = 7, int noise = 6)
    {
        var image = RgbImage.Allocate(width, height);
        var rng = new Random(seed);
        var p = image.Pixels;
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var i = ((y * width) + x) * 3;
                var inBox = x > width / 5 && x < width / 2 && y > height / 4 && y < height / 2;
                var dx = x - (width * 2 / 3);
                var dy = y - (height * 2 / 3);
                var inDisc = (dx * dx) + (dy * dy) < width * height / 25;
                int r, g, b;
                if (inBox)
                {
                    (r, g, b) = (230, 40, 50);
                }
                else if (inDisc)
                {
                    (r, g, b) = (30, 70, 220);
                }
                else
                {
                    r = x * 255 / Math.Max(width - 1, 1);
                    g = y * 255 / Math.Max(height - 1, 1);
                    b = (x + y) * 128 / Math.Max(width + height, 1) + 60;
                }
                p[i] = Clamp(r + rng.Next(-noise, noise + 1));
                p[i + 1] = Clamp(g + rng.Next(-noise, noise + 1));
                p[i + 2] = Clamp(b + rng.Next(-noise, noise + 1));
            }
        }
        return image;
    }

    private static byte Clamp(int v) => (byte)Math.Clamp(v, 0, 255);
}
