using System.Runtime.Intrinsics.X86;
using Xunit.Abstractions;

namespace SynthVlm.Imaging.Tests;

/// <summary>
/// The AVX-512 paths and the AVX2 / SSE paths they displace on an AVX-512 CPU, each against the
/// scalar twins and the oracles, on sizes chosen to hit every tail: strips and rows that are not
/// whole vectors or blocks, batches of output rows that do not divide the height.
/// </summary>
public sealed class SimdPathTests(ITestOutputHelper output)
{
    // The brief's budget against scikit-image's float64 (the oracle is float64 too).
    private const double SkimageTolerance = 1e-4;

    // Float32 paths that differ only in FMA contraction and summation order.
    private const double PathTolerance = 1e-6;

    [Fact]
    public void Host_ReportsWhichPathsRun() =>
        output.WriteLine($"AVX-512F {Avx512F.IsSupported}, AVX2 {Avx2.IsSupported}, FMA {Fma.IsSupported}: on a CPU without AVX-512 both 'allowVector512' cases run the AVX2 paths.");

    [Theory]
    // Cropped width 32: one strip, whole vectors; heights 11..13 finish without a single batch.
    [InlineData(42, 11)]
    [InlineData(42, 13)]
    // Cropped width 203: a full strip (Ssim.StripWidth512, 192) and a last one of 11 columns
    // that starts 5 early; heights 14..17 end on every remainder of the four-row batches.
    [InlineData(213, 14)]
    [InlineData(213, 15)]
    [InlineData(213, 16)]
    [InlineData(213, 17)]
    // Cropped width 385: two full strips and a one-column strip.
    [InlineData(395, 29)]
    // Cropped width 130: below an AVX-512 strip and not a multiple of 16, so the AVX2 fast path
    // (128-column strips, a last one of 2 columns that starts 6 early) even with AVX-512.
    [InlineData(140, 40)]
    // Cropped widths below a strip and not a multiple of 16 or 8: the general path.
    [InlineData(30, 20)]
    [InlineData(17, 12)]
    public void Ssim_EveryPath_MatchesOracleAndScalar(int width, int height)
    {
        using var a = TestImages.RandomSmooth(width, height, width + height);
        using var b = TestImages.AddHashNoise(a, 30, height);
        double expected = NaiveSsim.Compute(a, b);
        double scalar = Ssim.Compute(a, b, SsimOptions.Default, useSimd: false);
        double wide = Ssim.Compute(a, b, SsimOptions.Default, useSimd: true, allowVector512: true);
        double narrow = Ssim.Compute(a, b, SsimOptions.Default, useSimd: true, allowVector512: false);
        output.WriteLine($"{width}x{height}: oracle {expected:R}, scalar {scalar:R}, AVX-512 {wide:R}, AVX2 {narrow:R}");
        scalar.Should().BeApproximately(expected, SkimageTolerance);
        wide.Should().BeApproximately(expected, SkimageTolerance);
        narrow.Should().BeApproximately(expected, SkimageTolerance);
        wide.Should().BeApproximately(scalar, PathTolerance);
        narrow.Should().BeApproximately(scalar, PathTolerance);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Ssim_IdenticalImages_IsOne_OnBothSimdPaths(bool allowVector512)
    {
        using var a = TestImages.Random(395, 29, 5);
        using var b = RgbImage.FromPixels(a.Width, a.Height, a.Pixels);
        // Numerator and denominator are bit-for-bit equal for equal inputs (see Ssim.Map).
        Ssim.Compute(a, b, SsimOptions.Default, useSimd: true, allowVector512).Should().BeApproximately(1.0, 1e-12);
    }

    [Fact]
    public void Ssim_AllPathsAgree_OnLargeImage()
    {
        using var a = Fixtures.LoadImage("photo_1024");
        using var b = TestImages.AddHashNoise(a, 20, 7);
        Span<double> scalar = stackalloc double[3];
        Span<double> wide = stackalloc double[3];
        Span<double> narrow = stackalloc double[3];
        Ssim.ComputePerChannel(a, b, SsimOptions.Default, useSimd: false, scalar);
        Ssim.ComputePerChannel(a, b, SsimOptions.Default, useSimd: true, allowVector512: true, wide);
        Ssim.ComputePerChannel(a, b, SsimOptions.Default, useSimd: true, allowVector512: false, narrow);
        for (int c = 0; c < 3; c++)
        {
            output.WriteLine($"channel {c}: scalar {scalar[c]:R}, AVX-512 {wide[c]:R}, AVX2 {narrow[c]:R}");
            wide[c].Should().BeApproximately(scalar[c], PathTolerance);
            narrow[c].Should().BeApproximately(scalar[c], PathTolerance);
        }
    }

    [Theory]
    // Rows not a multiple of the 16-row block, row lengths not a multiple of the 16-byte tile.
    [InlineData(1000, 37, 333, 53)]
    [InlineData(77, 150, 200, 19)]
    [InlineData(16, 16, 5, 40)]
    [InlineData(50, 33, 120, 17)]
    [InlineData(336, 336, 1024, 1024)]
    [InlineData(21, 64, 7, 64)]
    [InlineData(64, 21, 64, 9)]
    public void Resize_EveryPath_MatchesScalar(int width, int height, int targetWidth, int targetHeight)
    {
        // Noise makes the bicubic and Lanczos lobes overshoot, so the clamp to 0..255 is exercised.
        using var source = TestImages.Random(width, height, width * height);
        foreach (var filter in Enum.GetValues<ResampleFilter>())
        {
            using var scalar = RgbImage.Allocate(targetWidth, targetHeight);
            using var wide = RgbImage.Allocate(targetWidth, targetHeight);
            using var narrow = RgbImage.Allocate(targetWidth, targetHeight);
            Resampler.Resize(source, scalar, filter, useSimd: false);
            Resampler.Resize(source, wide, filter, useSimd: true, allowVector512: true);
            Resampler.Resize(source, narrow, filter, useSimd: true, allowVector512: false);
            TestImages.Compare(scalar, wide).Differing.Should().Be(0, $"AVX-512 {width}x{height} -> {targetWidth}x{targetHeight} {filter}");
            TestImages.Compare(scalar, narrow).Differing.Should().Be(0, $"AVX2 {width}x{height} -> {targetWidth}x{targetHeight} {filter}");
        }
    }

    [Theory]
    [InlineData("photo_1024_to_336x336_Bicubic")]
    [InlineData("photo_336_to_1024x1024_Bicubic")]
    [InlineData("photo_1024_to_224x161_Lanczos3")]
    public void Resize_BothSimdPaths_MatchPillow_OnThePhotos(string key)
    {
        var entry = Fixtures.ResizeEntry(key);
        using var source = Fixtures.LoadImage(entry.GetProperty("source").GetString()!);
        using var expected = Fixtures.Load(entry);
        using var wide = RgbImage.Allocate(expected.Width, expected.Height);
        using var narrow = RgbImage.Allocate(expected.Width, expected.Height);
        var filter = Enum.Parse<ResampleFilter>(entry.GetProperty("filter").GetString()!);
        Resampler.Resize(source, wide, filter, useSimd: true, allowVector512: true);
        Resampler.Resize(source, narrow, filter, useSimd: true, allowVector512: false);
        TestImages.Compare(expected, wide).Differing.Should().Be(0);
        TestImages.Compare(expected, narrow).Differing.Should().Be(0);
    }
}
