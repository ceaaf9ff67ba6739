namespace SynthVlm.Curation.NearDuplicates;

/// <summary>
/// The choice of LSH bands b and rows r (b·r ≤ permutations) for a Jaccard threshold t, as
/// Data-Juicer's optimal_param chooses it: minimise ½·FP + ½·FN, where a pair of similarity s
/// collides with probability P(s) = 1 − (1 − sʳ)ᵇ, FP = ∫₀ᵗ P(s) ds and FN = ∫ₜ¹ (1 − P(s)) ds.
/// </summary>
public static class LshBanding
{
    // Simpson's rule on this many intervals per integral: P is a smooth polynomial, and 128
    // intervals put the quadrature error far below the gaps between neighbouring (b, r) choices.
    private const int Intervals = 128;

    /// <summary>The (bands, rows) with the least weighted error for <paramref name="threshold"/>.</summary>
    /// <param name="threshold">Jaccard threshold in (0, 1].</param>
    /// <param name="permutations">Signature length; b·r never exceeds it.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public static (int Bands, int Rows) Optimal(double threshold, int permutations)
    {
        if (double.IsNaN(threshold) || threshold <= 0 || threshold > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "The threshold must be a Jaccard similarity in (0, 1].");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(permutations, 1);
        var best = (Bands: 1, Rows: 1);
        var bestError = double.MaxValue;
        for (var b = 1; b <= permutations; b++)
        {
            for (var r = 1; r <= permutations / b; r++)
            {
                var error = 0.5 * FalsePositive(threshold, b, r) + 0.5 * FalseNegative(threshold, b, r);
                if (error < bestError)
                {
                    bestError = error;
                    best = (b, r);
                }
            }
        }
        return best;
    }

    /// <summary>The probability that two texts of Jaccard similarity <paramref name="s"/> share a band.</summary>
    public static double CollisionProbability(double s, int bands, int rows) => 1 - Math.Pow(1 - Math.Pow(s, rows), bands);

    private static double FalsePositive(double t, int b, int r) => Simpson(0, t, s => CollisionProbability(s, b, r));

    private static double FalseNegative(double t, int b, int r) => Simpson(t, 1, s => 1 - CollisionProbability(s, b, r));

    private static double Simpson(double a, double b, Func<double, double> f)
    {
        var h = (b - a) / Intervals;
        var sum = f(a) + f(b);
        for (var i = 1; i < Intervals; i++)
        {
            sum += f(a + i * h) * ((i & 1) == 1 ? 4 : 2);
        }
        return sum * h / 3;
    }
}
