namespace SynthVlm.Datasets.Tests;

public sealed class ScoreStatisticsTests
{
    private static List<(double Clip, double Ssim, double Weighted)> Scores(int count, double lambda, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var clip = random.NextDouble() * 0.5;
            var ssim = (random.NextDouble() * 1.2) - 0.2; // some negative SSIM values
            return (clip, ssim, clip + (lambda * ssim));
        }).ToList();
    }

    // The straightforward computation the streaming one is checked against.
    private static long[] NaiveHistogram(IEnumerable<double> values, double high, int bins)
    {
        var counts = new long[bins];
        foreach (var v in values)
        {
            var bin = v <= 0 ? 0 : v >= high ? bins - 1 : (int)Math.Floor(v / high * bins);
            counts[Math.Min(bin, bins - 1)]++;
        }
        return counts;
    }

    [Fact]
    public void Means_extremes_and_histograms_match_a_straightforward_computation()
    {
        const double Lambda = 0.8;
        var scores = Scores(5000, Lambda, seed: 1);
        var stats = new ScoreStatistics(Lambda, bins: 25);
        foreach (var (c, s, w) in scores)
        {
            stats.Add(c, s, w);
        }

        stats.Count.Should().Be(5000);
        // Tolerance: the naive mean sums 5000 doubles without compensation, so it may differ by a
        // few ulps of the sum; 1e-12 is far above that and far below any real error.
        stats.MeanClip.Should().BeApproximately(scores.Average(x => x.Clip), 1e-12);
        stats.MeanSsim.Should().BeApproximately(scores.Average(x => x.Ssim), 1e-12);
        stats.MeanWeighted.Should().BeApproximately(scores.Average(x => x.Weighted), 1e-12);
        stats.MinClip.Should().Be(scores.Min(x => x.Clip));
        stats.MaxClip.Should().Be(scores.Max(x => x.Clip));
        stats.MinSsim.Should().Be(scores.Min(x => x.Ssim));
        stats.MaxWeighted.Should().Be(scores.Max(x => x.Weighted));
        stats.ClipHistogram.Should().Equal(NaiveHistogram(scores.Select(x => x.Clip), 1.0, 25));
        stats.SsimHistogram.Should().Equal(NaiveHistogram(scores.Select(x => x.Ssim), 1.0, 25));
        stats.WeightedHistogram.Should().Equal(NaiveHistogram(scores.Select(x => x.Weighted), 1.0 + Lambda, 25));
        stats.SsimHistogram.Sum().Should().Be(5000);
        stats.UpperBound(ScoreKind.Weighted).Should().Be(1.8);
    }

    [Fact]
    public void Negative_ssim_counts_in_the_first_bin_and_values_above_the_range_in_the_last()
    {
        var stats = new ScoreStatistics(0.5, bins: 4);
        stats.Add(clip: 0.0, ssim: -0.3, weighted: -0.15);
        stats.Add(clip: 1.0, ssim: 1.0, weighted: 1.5);
        stats.Add(clip: 0.26, ssim: 0.5, weighted: 0.76);
        stats.Add(clip: 7.0, ssim: 2.0, weighted: 1e300);

        stats.SsimHistogram.Should().Equal(1, 0, 1, 2);
        stats.ClipHistogram.Should().Equal(1, 1, 0, 2);
        // weighted range [0, 1.5]: 0.76 is in bin floor(0.76 / 1.5 * 4) = 2
        stats.WeightedHistogram.Should().Equal(1, 0, 1, 2);
        stats.MinSsim.Should().Be(-0.3);
        stats.MaxClip.Should().Be(7.0);
    }

    [Fact]
    public void Merge_equals_adding_everything_to_one()
    {
        var scores = Scores(300, 0.5, seed: 2);
        var whole = new ScoreStatistics(0.5);
        var left = new ScoreStatistics(0.5);
        var right = new ScoreStatistics(0.5);
        for (var i = 0; i < scores.Count; i++)
        {
            whole.Add(scores[i].Clip, scores[i].Ssim, scores[i].Weighted);
            (i < 100 ? left : right).Add(scores[i].Clip, scores[i].Ssim, scores[i].Weighted);
        }
        left.Merge(right);

        left.Count.Should().Be(300);
        left.MeanClip.Should().BeApproximately(whole.MeanClip, 1e-14);
        left.MeanWeighted.Should().BeApproximately(whole.MeanWeighted, 1e-14);
        left.MinSsim.Should().Be(whole.MinSsim);
        left.MaxSsim.Should().Be(whole.MaxSsim);
        left.ClipHistogram.Should().Equal(whole.ClipHistogram);
        left.SsimHistogram.Should().Equal(whole.SsimHistogram);
        left.WeightedHistogram.Should().Equal(whole.WeightedHistogram);
    }

    [Fact]
    public void Merging_mismatched_statistics_is_refused()
    {
        var a = new ScoreStatistics(0.5, 20);
        FluentActions.Invoking(() => a.Merge(new ScoreStatistics(0.6, 20))).Should().Throw<ArgumentException>().WithMessage("*lambda 0.6*");
        FluentActions.Invoking(() => a.Merge(new ScoreStatistics(0.5, 10))).Should().Throw<ArgumentException>().WithMessage("*10 bins*");
    }

    [Fact]
    public void Empty_statistics_report_NaN_means_and_zero_counts()
    {
        var stats = new ScoreStatistics(0.5);
        stats.Count.Should().Be(0);
        double.IsNaN(stats.MeanClip).Should().BeTrue();
        double.IsNaN(stats.MinWeighted).Should().BeTrue();
        stats.ClipHistogram.Should().HaveCount(20).And.OnlyContain(c => c == 0);
    }

    [Fact]
    public void Bad_arguments_are_refused_with_their_names()
    {
        FluentActions.Invoking(() => new ScoreStatistics(double.NaN)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("lambda");
        FluentActions.Invoking(() => new ScoreStatistics(-1)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("lambda");
        FluentActions.Invoking(() => new ScoreStatistics(0.5, 0)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("bins");
        var stats = new ScoreStatistics(0.5);
        FluentActions.Invoking(() => stats.Add(0.1, double.NaN, 0.2)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("ssim");
        stats.Count.Should().Be(0);
    }
}
