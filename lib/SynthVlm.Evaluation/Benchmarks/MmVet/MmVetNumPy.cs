namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// The NumPy 1.x arithmetic MM-Vet's evaluator uses, operation for operation, so results agree to
/// the last bit: <c>np.sum</c> (pairwise summation), <c>np.mean</c>, <c>np.std</c> (ddof 0) and
/// <c>np.round</c>/<c>round(np.float64, d)</c> (scale by 10^d, round half to even, scale back,
/// which is not Python's correctly rounded <c>round(float, d)</c>: 0.15 → 0.2, not 0.1).
/// </summary>
internal static class MmVetNumPy
{
    private const int PairwiseBlock = 128;

    /// <summary><c>np.add.reduce</c> on float64: 0.0 plus NumPy's pairwise sum of the values.</summary>
    public static double Sum(ReadOnlySpan<double> values) => 0.0 + PairwiseSum(values);

    /// <summary><c>np.mean</c>.</summary>
    public static double Mean(ReadOnlySpan<double> values) => Sum(values) / values.Length;

    /// <summary><c>np.std</c> with ddof 0: mean, deviations squared, their mean, square root.</summary>
    public static double Std(ReadOnlySpan<double> values)
    {
        var mean = Mean(values);
        var squares = new double[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            var d = values[i] - mean;
            squares[i] = d * d;
        }
        return Math.Sqrt(Sum(squares) / values.Length);
    }

    /// <summary><c>np.round(x, decimals)</c>: for decimals ≥ 0, rint(x·10^d)/10^d; below 0, rint(x/10^-d)·10^-d.</summary>
    public static double Round(double x, int decimals)
    {
        if (decimals >= 0)
        {
            var f = PowerOfTen(decimals);
            return Math.Round(x * f, MidpointRounding.ToEven) / f;
        }
        var g = PowerOfTen(-decimals);
        return Math.Round(x / g, MidpointRounding.ToEven) * g;
    }

    // NumPy's DOUBLE_pairwise_sum: plain loop below 8 values, eight accumulators up to the block
    // size, halves (cut at a multiple of 8) above it.
    private static double PairwiseSum(ReadOnlySpan<double> a)
    {
        var n = a.Length;
        if (n < 8)
        {
            var res = 0.0;
            foreach (var v in a)
            {
                res += v;
            }
            return res;
        }
        if (n <= PairwiseBlock)
        {
            Span<double> r = stackalloc double[8];
            a[..8].CopyTo(r);
            var i = 8;
            for (; i < n - (n % 8); i += 8)
            {
                for (var j = 0; j < 8; j++)
                {
                    r[j] += a[i + j];
                }
            }
            var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for (; i < n; i++)
            {
                res += a[i];
            }
            return res;
        }
        var half = n / 2;
        half -= half % 8;
        return PairwiseSum(a[..half]) + PairwiseSum(a[half..]);
    }

    // NumPy's power_of_ten: exact for the small exponents used here.
    private static double PowerOfTen(int n)
    {
        var result = 1.0;
        for (var i = 0; i < n; i++)
        {
            result *= 10.0;
        }
        return result;
    }
}
