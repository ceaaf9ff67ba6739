using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace SynthVlm.Imaging;

/// <summary>
/// The resampling weights of one axis for one (source size, target size, filter), precomputed
/// once and cached: every output pixel of a 1024→336 resize reuses the same 336 short kernels,
/// and a scoring run performs that same resize thousands of times.
/// </summary>
/// <remarks>
/// Follows Pillow's <c>precompute_coeffs</c>: the support widens by the scale factor when
/// downsampling (so the filter also low-passes), output pixel <c>i</c> is centred at source
/// coordinate <c>(i + 0.5) · scale</c>, the taps are clipped to the image and renormalised to
/// sum 1, then converted to fixed point with <see cref="PrecisionBits"/> fractional bits,
/// rounding half away from zero as Pillow's <c>normalize_coeffs_8bpc</c> does.
/// </remarks>
internal sealed class KernelMap
{
    /// <summary>Pillow's <c>PRECISION_BITS</c> (32 - 8 - 2): 8-bit pixels times weights with headroom for negative lobes.</summary>
    public const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Bounds the cache: a service sees a handful of size pairs, a hostile caller could see millions.</summary>
    internal const int CacheCapacity = 64;

    private static readonly ConcurrentDictionary<(int In, int Out, ResampleFilter Filter), KernelMap> Cache = new();

    private KernelMap(int inSize, int outSize, ResampleFilter filter, int kernelSize, int[] starts, int[] counts, double[] weights, int[] coefficients)
    {
        InSize = inSize;
        OutSize = outSize;
        Filter = filter;
        KernelSize = kernelSize;
        Starts = starts;
        Counts = counts;
        Weights = weights;
        Coefficients = coefficients;
    }

    /// <summary>Source length along this axis.</summary>
    public int InSize { get; }

    /// <summary>Target length along this axis.</summary>
    public int OutSize { get; }

    /// <summary>The filter the weights come from.</summary>
    public ResampleFilter Filter { get; }

    /// <summary>Stride of <see cref="Weights"/> and <see cref="Coefficients"/> per output pixel (Pillow's <c>ksize</c>).</summary>
    public int KernelSize { get; }

    /// <summary>First source pixel of each output pixel's kernel.</summary>
    public int[] Starts { get; }

    /// <summary>Number of source pixels (taps) of each output pixel's kernel.</summary>
    public int[] Counts { get; }

    /// <summary>Normalised double weights, <see cref="KernelSize"/> per output pixel (kept for diagnostics and tests).</summary>
    public double[] Weights { get; }

    /// <summary>Fixed-point weights (<see cref="PrecisionBits"/> fractional bits), <see cref="KernelSize"/> per output pixel.</summary>
    public int[] Coefficients { get; }

    /// <summary>Number of maps currently cached (for tests of the bound).</summary>
    internal static int CachedCount => Cache.Count;

    /// <summary>The cached map for the triple, computing it on first use.</summary>
    public static KernelMap Get(int inSize, int outSize, ResampleFilter filter)
    {
        var key = (inSize, outSize, filter);
        if (Cache.TryGetValue(key, out var map))
        {
            return map;
        }
        map = Create(inSize, outSize, filter);
        if (Cache.Count >= CacheCapacity)
        {
            // Crude but bounded and lock-free: a working set larger than the cache just recomputes.
            Cache.Clear();
        }
        return Cache.GetOrAdd(key, map);
    }

    /// <summary>Computes a map without touching the cache.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static KernelMap Create(int inSize, int outSize, ResampleFilter filter)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outSize, 1);

        // Pillow takes the box edges as floats and divides in double; for whole-image boxes
        // (the only kind used here) that is exactly inSize / outSize.
        double scale = (double)(float)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = ResampleKernels.Support(filter) * filterScale;
        int kernelSize = ((int)Math.Ceiling(support) * 2) + 1;
        double inverseFilterScale = 1.0 / filterScale;

        var starts = new int[outSize];
        var counts = new int[outSize];
        var weights = new double[outSize * kernelSize];
        var coefficients = new int[outSize * kernelSize];
        for (int i = 0; i < outSize; i++)
        {
            double center = (i + 0.5) * scale;
            // (int) truncates toward zero, as C's cast does; Pillow relies on that for "rounding".
            int min = Math.Max((int)(center - support + 0.5), 0);
            int max = Math.Min((int)(center + support + 0.5), inSize) - min;
            var k = weights.AsSpan(i * kernelSize, kernelSize);
            double sum = 0.0;
            for (int x = 0; x < max; x++)
            {
                double w = ResampleKernels.Evaluate(filter, (x + min - center + 0.5) * inverseFilterScale);
                k[x] = w;
                sum += w;
            }
            for (int x = 0; x < max; x++)
            {
                if (sum != 0.0)
                {
                    k[x] /= sum;
                }
            }
            starts[i] = min;
            counts[i] = Math.Max(max, 0);
            for (int x = 0; x < kernelSize; x++)
            {
                coefficients[(i * kernelSize) + x] = ToFixed(k[x]);
            }
        }
        return new KernelMap(inSize, outSize, filter, kernelSize, starts, counts, weights, coefficients);
    }

    /// <summary>Pillow's rounding to fixed point: half away from zero, then truncation toward zero.</summary>
    internal static int ToFixed(double weight) =>
        weight < 0 ? (int)(-0.5 + (weight * (1 << PrecisionBits))) : (int)(0.5 + (weight * (1 << PrecisionBits)));
}
