namespace SynthVlm.Core.Statistics;

/// <summary>
/// The Wilson score interval for a binomial proportion: used wherever SynthVlm reports a rate of
/// judged items (pairwise win rates, the non-hallucination rate). Unlike the normal (Wald)
/// interval it stays inside [0, 1] and does not collapse to a point at 0 or n successes.
/// </summary>
public static class WilsonInterval
{
    /// <summary>z for a two-sided 95 % interval: Φ⁻¹(0.975).</summary>
    public const double Z95 = 1.959963984540054;

    /// <summary>
    /// The interval for <paramref name="successes"/> of <paramref name="n"/>:
    /// (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n), clamped to [0, 1]; (0, 0) when n is 0.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A count is negative, or <paramref name="successes"/> exceeds <paramref name="n"/>.</exception>
    public static (double Low, double High) Compute(int successes, int n, double z = Z95)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(successes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(successes, n);
        if (n == 0)
        {
            return (0, 0);
        }
        var p = (double)successes / n;
        var z2 = z * z;
        var denominator = 1 + (z2 / n);
        var center = (p + (z2 / (2.0 * n))) / denominator;
        var half = z / denominator * Math.Sqrt((p * (1 - p) / n) + (z2 / (4.0 * n * n)));
        return (Math.Max(0, center - half), Math.Min(1, center + half));
    }
}
