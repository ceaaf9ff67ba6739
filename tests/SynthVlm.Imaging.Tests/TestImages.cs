using System.Security.Cryptography;

namespace SynthVlm.Imaging.Tests;

/// <summary>Images built from formulas shared with the Python fixture generator and shared/reference/vectors/ssim.json.</summary>
internal static class TestImages
{
    public static RgbImage FromFunction(int width, int height, Func<int, int, int, int> value)
    {
        var image = RgbImage.Allocate(width, height);
        var pixels = image.Pixels;
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                for (int c = 0; c < 3; c++)
                {
                    pixels[(((y * width) + x) * 3) + c] = (byte)value(x, y, c);
                }
            }
        }
        return image;
    }

    public static RgbImage Random(int width, int height, int seed)
    {
        var image = RgbImage.Allocate(width, height);
        new Random(seed).NextBytes(image.Pixels);
        return image;
    }

    /// <summary>Random but spatially smooth content (blocks plus mild noise), closer to photos than white noise.</summary>
    public static RgbImage RandomSmooth(int width, int height, int seed)
    {
        var random = new Random(seed);
        int cell = random.Next(3, 9);
        var levels = new byte[((width / cell) + 2) * ((height / cell) + 2) * 3];
        random.NextBytes(levels);
        int columns = (width / cell) + 2;
        return FromFunction(width, height, (x, y, c) =>
            Math.Clamp(levels[((((y / cell) * columns) + (x / cell)) * 3) + c] + random.Next(-10, 11), 0, 255));
    }

    /// <summary>make_fixtures.py's hash_noise: integer hash noise in [-amplitude, amplitude].</summary>
    public static int HashNoise(int x, int y, int c, int amplitude, int seed)
    {
        ulong v = ((ulong)x * 73856093UL) ^ ((ulong)y * 19349663UL) ^ ((ulong)c * 83492791UL) ^ (ulong)seed;
        v = (v * 2654435761UL) & 0xFFFFFFFFUL;
        v >>= 16;
        return (int)(v % (ulong)((2 * amplitude) + 1)) - amplitude;
    }

    public static RgbImage AddHashNoise(RgbImage source, int amplitude, int seed) => Map(source, (x, y, c, v) =>
        Math.Clamp(v + HashNoise(x, y, c, amplitude, seed), 0, 255));

    /// <summary>np.roll by dy rows and dx columns (wrapping).</summary>
    public static RgbImage Shift(RgbImage source, int dx, int dy)
    {
        int w = source.Width, h = source.Height;
        var src = source.Pixels.ToArray();
        return FromFunction(w, h, (x, y, c) =>
        {
            int sx = (((x - dx) % w) + w) % w;
            int sy = (((y - dy) % h) + h) % h;
            return src[(((sy * w) + sx) * 3) + c];
        });
    }

    public static RgbImage Map(RgbImage source, Func<int, int, int, int, int> f)
    {
        var src = source.Pixels.ToArray();
        int w = source.Width;
        return FromFunction(w, source.Height, (x, y, c) => f(x, y, c, src[(((y * w) + x) * 3) + c]));
    }

    public static string Sha256(RgbImage image) => Convert.ToHexStringLower(SHA256.HashData(image.Pixels));

    /// <summary>Per-byte comparison: max and mean absolute difference.</summary>
    public static (int Max, double Mean, int Differing) Compare(RgbImage expected, RgbImage actual)
    {
        expected.Width.Should().Be(actual.Width);
        expected.Height.Should().Be(actual.Height);
        var e = expected.Pixels;
        var a = actual.Pixels;
        int max = 0, differing = 0;
        long total = 0;
        for (int i = 0; i < e.Length; i++)
        {
            int d = Math.Abs(e[i] - a[i]);
            total += d;
            if (d != 0)
            {
                differing++;
                max = Math.Max(max, d);
            }
        }
        return (max, (double)total / e.Length, differing);
    }
}
