namespace SynthVlm.Datasets;

/// <summary>The three scores a selected pair carries.</summary>
public enum ScoreKind
{
    /// <summary>CLIPScore, histogrammed over [0, 1].</summary>
    Clip,

    /// <summary>SSIMScore, histogrammed over [0, 1] (negative values count in the first bin).</summary>
    Ssim,

    /// <summary>The weighted score CLIPScore + λ·SSIMScore, histogrammed over [0, 1 + λ].</summary>
    Weighted,
}

/// <summary>
/// Count, mean, minimum, maximum and a fixed-range histogram of each score, updated one pair at a
/// time in O(bins) memory however many pairs are added. Values outside a histogram's range count
/// in its first or last bin; the mean, minimum and maximum use the values as they are.
/// Not thread-safe: give each producer its own instance and <see cref="Merge"/> them.
/// </summary>
public sealed class ScoreStatistics
{
    /// <summary>The most bins a histogram may have.</summary>
    public const int MaxBins = 10_000;

    private readonly Accumulator[] _scores;

    /// <summary>Creates empty statistics.</summary>
    /// <param name="lambda">λ of the weighted score; sets the weighted histogram's range to [0, 1 + λ]. Finite and ≥ 0.</param>
    /// <param name="bins">Bins per histogram, 1 to <see cref="MaxBins"/>.</param>
    public ScoreStatistics(double lambda, int bins = 20)
    {
        if (!double.IsFinite(lambda) || lambda < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(lambda), lambda, $"Lambda must be finite and >= 0, got {lambda}.");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bins, MaxBins);
        Lambda = lambda;
        Bins = bins;
        _scores = [new Accumulator(1.0, bins), new Accumulator(1.0, bins), new Accumulator(1.0 + lambda, bins)];
    }

    /// <summary>λ of the weighted score.</summary>
    public double Lambda { get; }

    /// <summary>Bins per histogram.</summary>
    public int Bins { get; }

    /// <summary>How many pairs were added.</summary>
    public long Count { get; private set; }

    /// <summary>Mean CLIPScore; NaN when empty.</summary>
    public double MeanClip => Mean(ScoreKind.Clip);

    /// <summary>Mean SSIMScore; NaN when empty.</summary>
    public double MeanSsim => Mean(ScoreKind.Ssim);

    /// <summary>Mean weighted score; NaN when empty.</summary>
    public double MeanWeighted => Mean(ScoreKind.Weighted);

    /// <summary>Smallest CLIPScore; NaN when empty.</summary>
    public double MinClip => Minimum(ScoreKind.Clip);

    /// <summary>Largest CLIPScore; NaN when empty.</summary>
    public double MaxClip => Maximum(ScoreKind.Clip);

    /// <summary>Smallest SSIMScore; NaN when empty.</summary>
    public double MinSsim => Minimum(ScoreKind.Ssim);

    /// <summary>Largest SSIMScore; NaN when empty.</summary>
    public double MaxSsim => Maximum(ScoreKind.Ssim);

    /// <summary>Smallest weighted score; NaN when empty.</summary>
    public double MinWeighted => Minimum(ScoreKind.Weighted);

    /// <summary>Largest weighted score; NaN when empty.</summary>
    public double MaxWeighted => Maximum(ScoreKind.Weighted);

    /// <summary>The CLIPScore histogram over [0, 1].</summary>
    public IReadOnlyList<long> ClipHistogram => Histogram(ScoreKind.Clip);

    /// <summary>The SSIMScore histogram over [0, 1].</summary>
    public IReadOnlyList<long> SsimHistogram => Histogram(ScoreKind.Ssim);

    /// <summary>The weighted-score histogram over [0, 1 + λ].</summary>
    public IReadOnlyList<long> WeightedHistogram => Histogram(ScoreKind.Weighted);

    /// <summary>Adds one pair's scores.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A score is NaN or infinite (the exception names it).</exception>
    public void Add(double clip, double ssim, double weighted)
    {
        CheckFinite(clip, nameof(clip));
        CheckFinite(ssim, nameof(ssim));
        CheckFinite(weighted, nameof(weighted));
        _scores[(int)ScoreKind.Clip].Add(clip);
        _scores[(int)ScoreKind.Ssim].Add(ssim);
        _scores[(int)ScoreKind.Weighted].Add(weighted);
        Count++;
    }

    /// <summary>Adds everything <paramref name="other"/> holds, as if its pairs had been added here.</summary>
    /// <exception cref="ArgumentException">The two have a different λ or bin count, so their histograms do not line up.</exception>
    public void Merge(ScoreStatistics other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Bins != Bins || other.Lambda.CompareTo(Lambda) != 0)
        {
            throw new ArgumentException(
                $"Cannot merge statistics with lambda {other.Lambda} and {other.Bins} bins into ones with lambda {Lambda} and {Bins} bins.",
                nameof(other));
        }
        for (var i = 0; i < _scores.Length; i++)
        {
            _scores[i].Merge(other._scores[i]);
        }
        Count += other.Count;
    }

    /// <summary>The mean of a score; NaN when empty.</summary>
    public double Mean(ScoreKind score) => Count == 0 ? double.NaN : Get(score).Sum / Count;

    /// <summary>The smallest value of a score; NaN when empty.</summary>
    public double Minimum(ScoreKind score) => Count == 0 ? double.NaN : Get(score).Min;

    /// <summary>The largest value of a score; NaN when empty.</summary>
    public double Maximum(ScoreKind score) => Count == 0 ? double.NaN : Get(score).Max;

    /// <summary>The histogram of a score: <see cref="Bins"/> counts of equal-width bins over [0, <see cref="UpperBound"/>].</summary>
    public IReadOnlyList<long> Histogram(ScoreKind score) => Get(score).Counts;

    /// <summary>The upper end of a score's histogram range: 1, or 1 + λ for the weighted score.</summary>
    public double UpperBound(ScoreKind score) => Get(score).High;

    /// <summary>The bin a value falls in for <paramref name="score"/>'s histogram.</summary>
    public int BinOf(ScoreKind score, double value) => Get(score).BinOf(value);

    private Accumulator Get(ScoreKind score) => score switch
    {
        ScoreKind.Clip or ScoreKind.Ssim or ScoreKind.Weighted => _scores[(int)score],
        _ => throw new ArgumentOutOfRangeException(nameof(score), score, "Not a score kind."),
    };

    private static void CheckFinite(double value, string name)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(name, value, $"Score '{name}' must be finite, got {value}.");
        }
    }

    private sealed class Accumulator(double high, int bins)
    {
        private readonly long[] _counts = new long[bins];
        private double _sum;
        private double _compensation;

        public double High { get; } = high;

        public double Sum => _sum + _compensation;

        public double Min { get; private set; } = double.PositiveInfinity;

        public double Max { get; private set; } = double.NegativeInfinity;

        public IReadOnlyList<long> Counts => Array.AsReadOnly(_counts);

        public int BinOf(double value)
        {
            // Clamp in floating point first: a huge value would overflow the int conversion.
            var scaled = Math.Clamp(value / High * _counts.Length, 0.0, _counts.Length - 1);
            return (int)scaled;
        }

        public void Add(double value)
        {
            AddToSum(value);
            Min = Math.Min(Min, value);
            Max = Math.Max(Max, value);
            _counts[BinOf(value)]++;
        }

        public void Merge(Accumulator other)
        {
            AddToSum(other._sum);
            AddToSum(other._compensation);
            Min = Math.Min(Min, other.Min);
            Max = Math.Max(Max, other.Max);
            for (var i = 0; i < _counts.Length; i++)
            {
                _counts[i] += other._counts[i];
            }
        }

        // Neumaier summation keeps the mean of millions of scores accurate to the last few ulps.
        private void AddToSum(double value)
        {
            var t = _sum + value;
            _compensation += Math.Abs(_sum) >= Math.Abs(value) ? (_sum - t) + value : (value - t) + _sum;
            _sum = t;
        }
    }
}
