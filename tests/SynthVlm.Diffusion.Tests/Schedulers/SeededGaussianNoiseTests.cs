using SynthVlm.Diffusion.Schedulers;

namespace SynthVlm.Diffusion.Tests.Schedulers;

public sealed class SeededGaussianNoiseTests
{
    [Fact]
    public void IntegerStream_MatchesXoshiro256StarStarSeededBySplitMix64()
    {
        // Seed 0 through SplitMix64 gives the state {0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F,
        // 0xF88BB8A8724C81EC}; the first xoshiro256** outputs are rotl(s1·5, 7)·9 and so on. Values checked with an
        // independent Python implementation of the published reference algorithms.
        var noise = new SeededGaussianNoise(0);
        ulong[] expected = [PinnedFirst, PinnedSecond, PinnedThird];
        expected.Should().Equal(noise.NextUInt64(), noise.NextUInt64(), noise.NextUInt64());
    }

    private const ulong PinnedFirst = 0x99EC5F36CB75F2B4;
    private const ulong PinnedSecond = 0xBF6E1F784956452A;
    private const ulong PinnedThird = 0x1A5F849D4933E6E0;

    [Fact]
    public void Samples_ArePinned()
    {
        var noise = new SeededGaussianNoise(42);
        var values = new float[6];
        noise.Fill(values);
        values.Should().Equal(PinnedSeed42);
    }

    // From an independent Python implementation (same SplitMix64 / xoshiro256** / Box–Muller), rounded to float32.
    private static readonly float[] PinnedSeed42 =
        [-0.3032630681991577f, 0.28846174478530884f, 1.3438117504119873f, -0.6879751682281494f, 0.3834618031978607f, -3.0758988857269287f];

    [Fact]
    public void Fill_IsTheSameStreamWhateverTheChunking()
    {
        var whole = new float[101];
        new SeededGaussianNoise(9).Fill(whole);

        var chunked = new float[101];
        var noise = new SeededGaussianNoise(9);
        int offset = 0;
        foreach (int size in new[] { 1, 2, 3, 0, 7, 33, 55 })
        {
            noise.Fill(chunked.AsSpan(offset, size));
            offset += size;
        }

        chunked.Should().Equal(whole, "an odd-sized request keeps the spare Box–Muller value for the next call");
    }

    [Fact]
    public void DifferentSeeds_DifferentStreams()
    {
        var a = new float[16];
        var b = new float[16];
        new SeededGaussianNoise(1).Fill(a);
        new SeededGaussianNoise(2).Fill(b);
        a.Should().NotEqual(b);
    }

    [Fact]
    public void Moments_AreStandardNormal()
    {
        // 200k samples: the standard error of the mean is 0.0022 and of the variance 0.0032; 5 sigma bounds.
        var values = new float[200_000];
        new SeededGaussianNoise(12345).Fill(values);
        double mean = values.Average(v => (double)v);
        double variance = values.Average(v => (v - mean) * (v - mean));
        double fourth = values.Average(v => Math.Pow(v - mean, 4)) / (variance * variance);
        mean.Should().BeApproximately(0, 0.011);
        variance.Should().BeApproximately(1, 0.016);
        fourth.Should().BeApproximately(3, 0.06, "the kurtosis of a normal distribution is 3");
        values.Should().OnlyContain(v => float.IsFinite(v));
    }
}
