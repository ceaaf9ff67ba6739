using System.Text.Json;
using SynthVlm.Testing;
using Xunit.Abstractions;

namespace SynthVlm.Imaging.Tests;

public sealed class SsimTests(ITestOutputHelper output)
{
    // The brief's budget against scikit-image's float64; the float32 pipeline measures < 1e-6.
    private const double SkimageTolerance = 1e-4;

    public static TheoryData<int, bool> FixturePairs()
    {
        var data = new TheoryData<int, bool>();
        int count = Fixtures.SsimPairs.Count();
        for (int i = 0; i < count; i++)
        {
            data.Add(i, true);
            data.Add(i, false);
        }
        return data;
    }

    public static TheoryData<string, bool> SharedCases()
    {
        var data = new TheoryData<string, bool>();
        foreach (var c in SharedVectors.GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("name").GetString()!, true);
            data.Add(c.GetProperty("name").GetString()!, false);
        }
        return data;
    }

    private static JsonElement SharedVectors { get; } = JsonDocument.Parse(File.ReadAllBytes(SharedVectorsPath())).RootElement;

    /// <summary>
    /// shared/reference/vectors/ssim.json where the checkout has the shared folder (inside or beside
    /// the repository), else the verbatim copy kept with the fixtures so CI runs the same cases.
    /// </summary>
    private static string SharedVectorsPath()
    {
        string[] candidates =
        [
            Path.Combine(RepoPaths.Root, "shared", "reference", "vectors", "ssim.json"),
            Path.Combine(Path.GetDirectoryName(RepoPaths.Root.TrimEnd(Path.DirectorySeparatorChar))!, "shared", "reference", "vectors", "ssim.json"),
        ];
        return candidates.FirstOrDefault(File.Exists) ?? Path.Combine(Fixtures.Folder, "shared_reference_ssim.json");
    }

    [Theory]
    [MemberData(nameof(FixturePairs))]
    public void Ssim_MatchesSkimage_OnFixturePairs(int index, bool simd)
    {
        var pair = Fixtures.SsimPairs.ElementAt(index);
        string name = pair.GetProperty("image").GetString()!;
        using var a = Fixtures.LoadImage(name);
        using var b = Variant(a, pair);
        double expected = pair.GetProperty("ssim").GetDouble();
        double actual = Ssim.Compute(a, b, SsimOptions.Default, simd);
        output.WriteLine($"{name} {pair.GetProperty("variant")}: skimage {expected:R}, ours {actual:R}, |diff| {Math.Abs(actual - expected):E2}");
        actual.Should().BeApproximately(expected, SkimageTolerance);
    }

    private static RgbImage Variant(RgbImage a, JsonElement pair)
    {
        var variant = pair.GetProperty("variant");
        return variant.GetProperty("kind").GetString() switch
        {
            "identical" => RgbImage.FromPixels(a.Width, a.Height, a.Pixels),
            "noise" => TestImages.AddHashNoise(a, variant.GetProperty("amplitude").GetInt32(), variant.GetProperty("seed").GetInt32()),
            "shift" => TestImages.Shift(a, variant.GetProperty("dx").GetInt32(), variant.GetProperty("dy").GetInt32()),
            "stored" => Fixtures.Load(pair.GetProperty("stored")),
            var kind => throw new InvalidOperationException($"Unknown variant {kind}."),
        };
    }

    [Theory]
    [MemberData(nameof(SharedCases))]
    public void Ssim_MatchesSharedReferenceVectors(string name, bool simd)
    {
        var images = SharedVectors.GetProperty("images");
        var @case = SharedVectors.GetProperty("cases").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);
        using var a = ImageA();
        RgbImage b;
        RgbImage first = a;
        switch (name)
        {
            case "A_vs_A":
                b = ImageA();
                break;
            case "A_vs_A_plus_noise":
                b = TestImages.Map(a, (x, y, c, v) => Math.Clamp(v + ((7 * x + 13 * y + 29 * c) % 31) - 15, 0, 255));
                CheckHash(b, images.GetProperty("A_plus_noise"));
                break;
            case "A_vs_A_plus_10":
                b = TestImages.Map(a, (x, y, c, v) => Math.Min(v + 10, 255));
                CheckHash(b, images.GetProperty("A_plus_10"));
                break;
            case "BIG_vs_PIL_bicubic_1024_336_1024":
                first = TestImages.FromFunction(1024, 1024, (x, y, c) => c switch
                {
                    0 => x * 255 / 1023,
                    1 => (((x >> 5) + (y >> 5)) & 1) == 1 ? 230 : 25,
                    _ => ((x * x) + (y * y)) >> 10 & 255,
                });
                CheckHash(first, images.GetProperty("BIG"));
                using (var small = Resampler.Resize(first, 336, 336, ResampleFilter.Bicubic))
                {
                    CheckHash(small, @case.GetProperty("intermediate_336"));
                    b = Resampler.Resize(small, 1024, 1024, ResampleFilter.Bicubic);
                }
                CheckHash(b, @case.GetProperty("roundtrip_1024"));
                break;
            default:
                throw new InvalidOperationException($"Unknown shared case {name}; extend the test.");
        }
        try
        {
            Span<double> channels = stackalloc double[3];
            Ssim.ComputePerChannel(first, b, SsimOptions.Default, simd, channels);
            // Compute is this average; recomputing the 1024x1024 case would only slow the suite.
            double overall = first.Width > 100 ? (channels[0] + channels[1] + channels[2]) / 3 : Ssim.Compute(first, b, SsimOptions.Default, simd);
            double expected = @case.GetProperty("ssim").GetDouble();
            output.WriteLine($"{name}: reference {expected:R}, ours {overall:R}, |diff| {Math.Abs(overall - expected):E2}");
            overall.Should().BeApproximately(expected, SkimageTolerance);
            var perChannel = @case.GetProperty("ssim_per_channel_RGB").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            for (int c = 0; c < 3; c++)
            {
                channels[c].Should().BeApproximately(perChannel[c], SkimageTolerance);
            }
        }
        finally
        {
            b.Dispose();
            if (!ReferenceEquals(first, a))
            {
                first.Dispose();
            }
        }
    }

    private static RgbImage ImageA()
    {
        var image = TestImages.FromFunction(64, 48, (x, y, c) => c switch
        {
            0 => ((4 * x) + (2 * y)) % 256,
            1 => ((x / 8) + (y / 8)) % 2 == 0 ? 220 : 30,
            _ => x * y % 256,
        });
        CheckHash(image, SharedVectors.GetProperty("images").GetProperty("A"));
        return image;
    }

    private static void CheckHash(RgbImage image, JsonElement described) =>
        TestImages.Sha256(image).Should().Be(described.GetProperty("sha256_of_raw_rgb_bytes").GetString(), "the image must be the one the reference value was computed on");

    [Theory]
    [InlineData(11, 11, true)]
    [InlineData(11, 11, false)]
    [InlineData(37, 23, true)]
    [InlineData(37, 23, false)]
    [InlineData(300, 200, true)]
    [InlineData(300, 200, false)]
    public void Ssim_IdenticalImages_IsOne(int width, int height, bool simd)
    {
        using var a = TestImages.Random(width, height, width + height);
        using var b = RgbImage.FromPixels(width, height, a.Pixels);
        // The formula is symmetric in the operations it applies to a and b, so equal inputs
        // give numerator == denominator bit for bit; 1e-12 is the brief's bound.
        Ssim.Compute(a, b, SsimOptions.Default, simd).Should().BeApproximately(1.0, 1e-12);
    }

    [Theory]
    [InlineData(11, 11, 1, true)]
    [InlineData(23, 17, 2, true)]
    [InlineData(64, 48, 3, true)]
    [InlineData(23, 17, 2, false)]
    [InlineData(64, 48, 3, false)]
    [InlineData(31, 40, 4, false)]
    public void Ssim_MatchesNaiveOracle_OnRandomImages(int width, int height, int seed, bool simd)
    {
        using var a = seed % 2 == 0 ? TestImages.Random(width, height, seed) : TestImages.RandomSmooth(width, height, seed);
        using var b = TestImages.AddHashNoise(a, 25, seed);
        using var c = TestImages.RandomSmooth(width, height, seed + 100);
        // Same budget as against skimage: the oracle is float64 like skimage.
        Ssim.Compute(a, b, SsimOptions.Default, simd).Should().BeApproximately(NaiveSsim.Compute(a, b), SkimageTolerance);
        Ssim.Compute(a, c, SsimOptions.Default, simd).Should().BeApproximately(NaiveSsim.Compute(a, c), SkimageTolerance);
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(3, false)]
    [InlineData(128, true)]
    [InlineData(252, true)]
    [InlineData(252, false)]
    public void Ssim_NearlyFlatImages_StayWithinBudget(int level, bool simd)
    {
        // The float32 worst case: second moments far from the centre (128) with variances
        // near zero, so rounding in E[x²] − E[x]² is largest relative to C2.
        using var a = TestImages.FromFunction(96, 80, (x, y, c) => Math.Clamp(level + TestImages.HashNoise(x, y, c, 2, 5), 0, 255));
        using var b = TestImages.AddHashNoise(a, 2, 11);
        double expected = NaiveSsim.Compute(a, b);
        double actual = Ssim.Compute(a, b, SsimOptions.Default, simd);
        output.WriteLine($"level {level}: oracle {expected:R}, ours {actual:R}, |diff| {Math.Abs(actual - expected):E2}");
        actual.Should().BeApproximately(expected, SkimageTolerance);
    }

    [Theory]
    [InlineData(1.0, true)]
    [InlineData(0.8, false)]
    [InlineData(2.5, true)]
    public void Ssim_OtherSigmas_MatchNaiveOracle(double sigma, bool simd)
    {
        using var a = TestImages.RandomSmooth(40, 36, 9);
        using var b = TestImages.AddHashNoise(a, 12, 3);
        var options = new SsimOptions { Sigma = sigma };
        // Same float32-vs-float64 budget as the default window.
        Ssim.Compute(a, b, options, simd).Should().BeApproximately(NaiveSsim.Compute(a, b, sigma), SkimageTolerance);
    }

    [Fact]
    public void Ssim_SimdAndScalarAgree_OnLargeImage()
    {
        using var a = Fixtures.LoadImage("photo_1024");
        using var b = TestImages.AddHashNoise(a, 20, 7);
        double simd = Ssim.Compute(a, b, SsimOptions.Default, useSimd: true);
        double scalar = Ssim.Compute(a, b, SsimOptions.Default, useSimd: false);
        output.WriteLine($"simd {simd:R} scalar {scalar:R}");
        // FMA vs separate multiply-add only changes float32 rounding: far below the skimage budget.
        simd.Should().BeApproximately(scalar, 1e-6);
    }

    [Fact]
    public void Ssim_DifferentSizes_ThrowsNamingBothSizes()
    {
        using var a = TestImages.Random(20, 30, 1);
        using var b = TestImages.Random(30, 20, 1);
        var act = () => Ssim.Compute(a, b);
        act.Should().Throw<ImageMismatchException>().Which.Message.Should().Contain("20x30").And.Contain("30x20");
    }

    [Theory]
    [InlineData(10, 40)]
    [InlineData(40, 10)]
    [InlineData(7, 7)]
    public void Ssim_SmallerThanWindow_ThrowsImageSizeException(int width, int height)
    {
        using var a = TestImages.Random(width, height, 1);
        using var b = TestImages.Random(width, height, 2);
        var act = () => Ssim.Compute(a, b);
        act.Should().Throw<ImageSizeException>().Which.Message.Should().Contain($"{width}x{height}").And.Contain("11x11");
    }

    [Fact]
    public void Ssim_InvalidOptions_Throw()
    {
        using var a = TestImages.Random(20, 20, 1);
        var act = () => Ssim.Compute(a, a, new SsimOptions { Sigma = 0 });
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("Sigma");
        var act2 = () => Ssim.Compute(a, a, new SsimOptions { DataRange = -1 });
        act2.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("DataRange");
    }
}
