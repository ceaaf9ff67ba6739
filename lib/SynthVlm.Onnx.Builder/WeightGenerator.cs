namespace SynthVlm.Onnx.Builder;

/// <summary>
/// Deterministic random weights for models built in code: xoshiro256** seeded through
/// SplitMix64, normals by the polar (Marsaglia) form of Box–Muller. The same seed gives the
/// same bytes on every machine and runtime, because every step uses only integer arithmetic
/// and correctly rounded IEEE operations (+, −, ×, ÷, √); the logarithm is computed here
/// rather than taken from the platform's libm, whose last bit varies between systems.
/// Not thread-safe.
/// </summary>
public sealed class WeightGenerator
{
    private ulong _s0;
    private ulong _s1;
    private ulong _s2;
    private ulong _s3;
    private double _spareNormal;
    private bool _hasSpare;

    /// <summary>Starts the stream for <paramref name="seed"/> (any value, zero included).</summary>
    public WeightGenerator(ulong seed)
    {
        // SplitMix64 expands the seed so that similar seeds give unrelated states and the state is never all zero.
        var x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>The next raw 64-bit output of xoshiro256**.</summary>
    public ulong NextUInt64()
    {
        var result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>A standard normal sample (mean 0, standard deviation 1).</summary>
    public double NextGaussian()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return _spareNormal;
        }
        double u, v, s;
        do
        {
            u = (2.0 * NextDouble()) - 1.0;
            v = (2.0 * NextDouble()) - 1.0;
            s = (u * u) + (v * v);
        }
        while (s >= 1.0 || s == 0.0);
        var factor = Math.Sqrt(-2.0 * Log(s) / s);
        _spareNormal = v * factor;
        _hasSpare = true;
        return u * factor;
    }

    /// <summary>Fills <paramref name="destination"/> with normal samples of mean 0 and standard deviation <paramref name="std"/>.</summary>
    public void FillNormal(Span<float> destination, float std)
    {
        CheckFinite(std, nameof(std));
        ArgumentOutOfRangeException.ThrowIfNegative(std);
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = (float)(NextGaussian() * std);
        }
    }

    /// <summary>Fills <paramref name="destination"/> with uniform samples in [<paramref name="low"/>, <paramref name="high"/>).</summary>
    public void FillUniform(Span<float> destination, float low, float high)
    {
        CheckFinite(low, nameof(low));
        CheckFinite(high, nameof(high));
        if (high < low)
        {
            throw new ArgumentOutOfRangeException(nameof(high), high, $"The upper bound must not be below the lower bound {low}.");
        }
        var width = (double)high - low;
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = (float)(low + (NextDouble() * width));
        }
    }

    /// <summary>A new row-major array of the given shape filled with N(0, <paramref name="std"/>²) samples.</summary>
    public float[] Normal(float std, params int[] shape)
    {
        var values = new float[Count(shape)];
        FillNormal(values, std);
        return values;
    }

    /// <summary>A new row-major array of the given shape filled with uniform samples in [<paramref name="low"/>, <paramref name="high"/>).</summary>
    public float[] Uniform(float low, float high, params int[] shape)
    {
        var values = new float[Count(shape)];
        FillUniform(values, low, high);
        return values;
    }

    /// <summary>
    /// Natural logarithm of a positive finite double from exact operations only:
    /// x = m·2^e with m in [√½, √2), ln m = 2·atanh((m−1)/(m+1)) by its odd series.
    /// Accurate to a few ulp, and bit-identical everywhere.
    /// </summary>
    internal static double Log(double x)
    {
        if (!(x > 0) || double.IsInfinity(x))
        {
            throw new ArgumentOutOfRangeException(nameof(x), x, "The logarithm needs a positive finite number.");
        }
        var bits = BitConverter.DoubleToInt64Bits(x);
        var exponent = (int)((bits >> 52) & 0x7FF);
        if (exponent == 0)
        {
            // Subnormal: scale into the normal range first (2^54 is exact).
            return Log(x * 18014398509481984.0) - (54 * Ln2);
        }
        exponent -= 1023;
        var mantissa = BitConverter.Int64BitsToDouble((bits & 0x000F_FFFF_FFFF_FFFFL) | 0x3FF0_0000_0000_0000L);
        if (mantissa >= Sqrt2)
        {
            mantissa *= 0.5;
            exponent++;
        }
        var z = (mantissa - 1.0) / (mantissa + 1.0);
        var z2 = z * z;
        // |z| <= 0.1716, so z² <= 0.0295 and 13 odd terms reach far below double precision.
        var sum = 0.0;
        for (var k = 25; k >= 3; k -= 2)
        {
            sum = (sum + (1.0 / k)) * z2;
        }
        var lnMantissa = 2.0 * z * (1.0 + sum);
        return (exponent * Ln2) + lnMantissa;
    }

    private const double Ln2 = 0.69314718055994530942;
    private const double Sqrt2 = 1.41421356237309504880;

    private static ulong SplitMix64(ref ulong state)
    {
        state += 0x9E3779B97F4A7C15UL;
        var z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static int Count(int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long count = 1;
        foreach (var d in shape)
        {
            if (d < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(shape), $"Shape [{string.Join(", ", shape)}] has a negative dimension.");
            }
            count *= d;
            if (count > Array.MaxLength)
            {
                throw new ArgumentOutOfRangeException(nameof(shape), $"Shape [{string.Join(", ", shape)}] holds more than {Array.MaxLength} values.");
            }
        }
        return (int)count;
    }

    private static void CheckFinite(float value, string name)
    {
        if (!float.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(name, value, "The value must be finite.");
        }
    }
}
