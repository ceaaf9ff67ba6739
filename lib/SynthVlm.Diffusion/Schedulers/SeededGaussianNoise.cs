namespace SynthVlm.Diffusion.Schedulers;

/// <summary>
/// Deterministic standard normal noise from a 64-bit seed: xoshiro256** seeded through SplitMix64, 53-bit uniform
/// doubles, and the Box–Muller transform (both outputs of a pair are used, in order), rounded to float.
/// </summary>
/// <remarks>
/// This is NOT torch's generator (Philox/MT19937 plus torch's own normal transform), so the same seed number gives
/// different latents than diffusers; parity tests feed diffusers and this code the same explicit noise instead.
/// The integer stream is identical on every machine; the transform uses <see cref="Math.Log(double)"/>,
/// <see cref="Math.Sqrt"/>, <see cref="Math.Cos"/> and <see cref="Math.Sin"/> in double precision, so two platforms
/// whose libm differ in the last bit of a double could round a float differently only in the rare case where that
/// double lies within one double ulp of a float rounding boundary. Not thread-safe: one instance per consumer.
/// </remarks>
public sealed class SeededGaussianNoise : IGaussianNoise
{
    private const double TwoPi = 2.0 * Math.PI;
    private const double InverseTwoPow53 = 1.0 / (1UL << 53);

    private ulong _s0;
    private ulong _s1;
    private ulong _s2;
    private ulong _s3;
    private float _spare;
    private bool _hasSpare;

    /// <summary>Creates the stream for <paramref name="seed"/>.</summary>
    public SeededGaussianNoise(ulong seed)
    {
        Seed = seed;
        ulong x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>The seed this stream started from.</summary>
    public ulong Seed { get; }

    /// <inheritdoc />
    public void Fill(Span<float> destination)
    {
        int i = 0;
        if (_hasSpare && destination.Length > 0)
        {
            destination[i++] = _spare;
            _hasSpare = false;
        }

        for (; i < destination.Length; i += 2)
        {
            // u1 in (0, 1] keeps the logarithm finite; u2 in [0, 1).
            double u1 = 1.0 - ((NextUInt64() >> 11) * InverseTwoPow53);
            double u2 = (NextUInt64() >> 11) * InverseTwoPow53;
            double radius = Math.Sqrt(-2.0 * Math.Log(u1));
            double angle = TwoPi * u2;
            destination[i] = (float)(radius * Math.Cos(angle));
            float second = (float)(radius * Math.Sin(angle));
            if (i + 1 < destination.Length)
            {
                destination[i + 1] = second;
            }
            else
            {
                _spare = second;
                _hasSpare = true;
            }
        }
    }

    /// <summary>The next raw 64-bit output of xoshiro256** (exposed for tests that pin the integer stream).</summary>
    internal ulong NextUInt64()
    {
        ulong result = RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotateLeft(_s3, 45);
        return result;
    }

    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));

    private static ulong SplitMix64(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
