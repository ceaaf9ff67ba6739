using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SynthVlm.Imaging;

/// <summary>
/// The structural similarity index of two RGB8 images with scikit-image's conventions
/// (<c>skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
/// use_sample_covariance=False, data_range=255, channel_axis=-1)</c>): per channel, a separable
/// Gaussian window (σ 1.5 truncated at 3.5σ: 11 taps), population (co)variances, the SSIM map
/// averaged over the image cropped by the window radius on every side, then the mean of the
/// three channel values.
/// </summary>
/// <remarks>
/// <para>
/// Because the mean excludes a border as wide as the window radius, no averaged map value ever
/// reads a pixel outside the image; scipy's boundary mode ('reflect') therefore cannot change
/// the result, and only the "valid" part of each filtered plane is computed.
/// </para>
/// <para>
/// Layout: both images are split into planar channels once (pooled); each channel is then
/// processed in vertical strips of <see cref="StripWidth"/> output columns. Per source row the
/// four products x, y, x² + y², xy are filtered horizontally into a ring of (2·radius + 1) rows
/// (the map needs σx² + σy² only as a sum, see <see cref="Map"/>);
/// when the ring is full the vertical pass filters it and the SSIM map values of that output
/// row are summed at once, so no full-size filtered plane is ever stored and the ring stays in
/// L1. The default window (11 taps) has specialised AVX-512 (ComputeFast512, the other part of
/// this class) and AVX2 + FMA (ComputeFast) paths that unroll the taps and filter four output
/// rows per vertical step. Every SIMD loop has a
/// scalar twin (<c>useSimd: false</c>, or the AppContext switch <c>SynthVlm.Imaging.DisableSimd</c>).
/// </para>
/// <para>
/// Precision (measured, not assumed): the filters run in float32 (eight or sixteen lanes)
/// on data centred at 128, so second moments stay below 128² and the variance subtraction
/// E[x²] − E[x]² loses about 2⁻²⁴ · 16384 ≈ 1e-3 grey levels², small against C2 = 58.5; the map
/// is summed in double. Against scikit-image's float64 the difference is below 2e-6 on
/// every fixture pair and reference vector (up to 1024×1024) and about 2e-6 on the adversarial
/// case of nearly flat images at the ends of the range (SsimTests), inside the 1e-4 budget, so
/// float32 is kept: it halves the work of a float64 pipeline.
/// </para>
/// </remarks>
public static partial class Ssim
{
    private const int Planes = 4;

    // Subtracted from every byte before filtering (exactly representable); see remarks.
    private const float Centre = 128f;

    // Output columns per vertical strip: the ring of 11 rows x 4 planes x 128 floats (22 KB)
    // stays in L1, where the vertical pass's 55 loads per 8 pixels would otherwise hit L2.
    internal const int StripWidth = 128;

    // The window the fast path is specialised for (σ 1.5, the default and SSIMScore's).
    private const int FastTaps = 11;

    // Output rows the fast vertical pass computes together, and the ring rows they need.
    private const int Batch = 4;
    private const int RingRows = FastTaps + Batch - 1;

    // Plane stride of the fast path's product row: StripWidth + FastTaps − 1 rounded up to eight.
    private const int FastInStride = StripWidth + 16;

    // Plane and slot strides of the fast path's ring, padded off multiples of 512 bytes so the
    // 70 rows one vertical step loads do not all fall in the same 8 of the 64 L1 sets.
    private const int RingPlaneStride = StripWidth + 8;
    private const int SlotStride = (Planes * RingPlaneStride) + 8;

    /// <summary>SSIM of two images of the same size with the default <see cref="SsimOptions"/>.</summary>
    /// <param name="a">First image.</param>
    /// <param name="b">Second image, the same size as <paramref name="a"/>.</param>
    /// <returns>The mean SSIM in [-1, 1]; exactly 1 for identical images.</returns>
    /// <exception cref="ImageMismatchException">The images differ in size.</exception>
    /// <exception cref="ImageSizeException">A side is smaller than the window (11 pixels by default).</exception>
    public static double Compute(RgbImage a, RgbImage b) => Compute(a, b, SsimOptions.Default);

    /// <summary>SSIM of two images of the same size with explicit options.</summary>
    /// <param name="a">First image.</param>
    /// <param name="b">Second image, the same size as <paramref name="a"/>.</param>
    /// <param name="options">Window σ, K1, K2 and data range.</param>
    /// <returns>The mean SSIM.</returns>
    /// <exception cref="ImageMismatchException">The images differ in size.</exception>
    /// <exception cref="ImageSizeException">A side is smaller than <see cref="SsimOptions.WindowSize"/>.</exception>
    public static double Compute(RgbImage a, RgbImage b, SsimOptions options) =>
        Compute(a, b, options, SimdSupport.Enabled);

    /// <summary>The implementation with the SIMD choice explicit, so tests run both paths.</summary>
    internal static double Compute(RgbImage a, RgbImage b, SsimOptions options, bool useSimd) =>
        Compute(a, b, options, useSimd, allowVector512: true);

    /// <summary>As <see cref="Compute(RgbImage, RgbImage, SsimOptions, bool)"/>, and able to keep an AVX-512 CPU on the AVX2 path so tests cover it.</summary>
    internal static double Compute(RgbImage a, RgbImage b, SsimOptions options, bool useSimd, bool allowVector512)
    {
        Span<double> channels = stackalloc double[RgbImage.Channels];
        ComputePerChannel(a, b, options, useSimd, allowVector512, channels);
        return (channels[0] + channels[1] + channels[2]) / RgbImage.Channels;
    }

    /// <summary>The mean SSIM of each channel (R, G, B), as scikit-image computes before averaging.</summary>
    internal static void ComputePerChannel(RgbImage a, RgbImage b, SsimOptions options, bool useSimd, Span<double> channels) =>
        ComputePerChannel(a, b, options, useSimd, allowVector512: true, channels);

    /// <summary>As <see cref="ComputePerChannel(RgbImage, RgbImage, SsimOptions, bool, Span{double})"/>, with the AVX-512 choice explicit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ComputePerChannel(RgbImage a, RgbImage b, SsimOptions options, bool useSimd, bool allowVector512, Span<double> channels)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (a.Width != b.Width || a.Height != b.Height)
        {
            throw new ImageMismatchException(null, $"SSIM needs images of the same size; got {a.Width}x{a.Height} and {b.Width}x{b.Height}.");
        }
        int taps = options.WindowSize;
        if (a.Width < taps || a.Height < taps)
        {
            throw new ImageSizeException(null, $"SSIM with sigma {options.Sigma} uses a {taps}x{taps} window; a {a.Width}x{a.Height} image is smaller than that.");
        }

        double[] window64 = options.Window();
        Span<float> window = stackalloc float[taps];
        for (int i = 0; i < taps; i++)
        {
            window[i] = (float)window64[i];
        }
        float c1 = (float)Math.Pow(options.K1 * options.DataRange, 2);
        float c2 = (float)Math.Pow(options.K2 * options.DataRange, 2);

        int height = a.Height;
        int validWidth = a.Width - taps + 1;
        int inStride = StripWidth + taps - 1;
        int slotStride = Planes * StripWidth;
        bool simd = useSimd && Vector256.IsHardwareAccelerated && Avx2.IsSupported;
        if (simd && allowVector512 && taps == FastTaps && CanUseFast512(validWidth))
        {
            ComputeFast512(a, b, window, c1, c2, channels);
            return;
        }
        if (simd && Fma.IsSupported && taps == FastTaps && (validWidth % 8 == 0 || validWidth > StripWidth))
        {
            ComputeFast(a, b, window, c1, c2, channels);
            return;
        }
        // Both images split into planar channels once; per strip row the four product planes
        // x, y, x², y², xy; and the ring of horizontally filtered rows (see StripWidth).
        int planeLength = a.Width * height;
        // One rental per image: each is at most 3 x ImageLimits.AbsoluteMaxPixels bytes, which fits an array.
        byte[] planarA = ArrayPool<byte>.Shared.Rent(RgbImage.Channels * planeLength);
        byte[] planarB = ArrayPool<byte>.Shared.Rent(RgbImage.Channels * planeLength);
        float[] products = ArrayPool<float>.Shared.Rent(Planes * inStride);
        float[] ring = ArrayPool<float>.Shared.Rent(taps * slotStride);
        try
        {
            Span<int> slots = stackalloc int[taps];
            Deinterleave(a.Pixels, planarA.AsSpan(0, RgbImage.Channels * planeLength), planeLength, simd);
            Deinterleave(b.Pixels, planarB.AsSpan(0, RgbImage.Channels * planeLength), planeLength, simd);
            for (int c = 0; c < RgbImage.Channels; c++)
            {
                double sum = 0;
                for (int j0 = 0; j0 < validWidth; j0 += StripWidth)
                {
                    int stripWidth = Math.Min(StripWidth, validWidth - j0);
                    int inWidth = stripWidth + taps - 1;
                    for (int r = 0; r < height; r++)
                    {
                        int rowStart = (r * a.Width) + j0;
                        var bytesA = planarA.AsSpan((c * planeLength) + rowStart, inWidth);
                        var bytesB = planarB.AsSpan((c * planeLength) + rowStart, inWidth);
                        if (simd)
                        {
                            ProductsVector(bytesA, bytesB, inStride, products);
                        }
                        else
                        {
                            ProductsScalar(bytesA, bytesB, inStride, products, 0);
                        }
                        var slot = ring.AsSpan((r % taps) * slotStride, slotStride);
                        if (simd)
                        {
                            HorizontalVector(products, inStride, window, slot, stripWidth);
                        }
                        else
                        {
                            HorizontalScalar(products, inStride, window, slot, stripWidth, 0);
                        }
                        if (r < taps - 1)
                        {
                            continue;
                        }
                        // Rows r - taps + 1 .. r are in the ring: one cropped output row is complete.
                        for (int k = 0; k < taps; k++)
                        {
                            slots[k] = ((r - taps + 1 + k) % taps) * slotStride;
                        }
                        sum += simd
                            ? VerticalVector(ring, slots, StripWidth, window, c1, c2, stripWidth)
                            : VerticalScalar(ring, slots, StripWidth, window, c1, c2, stripWidth, 0);
                    }
                }
                channels[c] = sum / ((double)validWidth * (height - taps + 1));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(ring);
            ArrayPool<float>.Shared.Return(products);
            ArrayPool<byte>.Shared.Return(planarB);
            ArrayPool<byte>.Shared.Return(planarA);
        }
    }

    /// <summary>
    /// The default window (σ 1.5: 11 taps) with AVX2 + FMA, the hot path of SSIMScore. Its scalar
    /// twin is the general path (<see cref="ProductsScalar"/>, <see cref="HorizontalScalar"/>,
    /// <see cref="VerticalScalar"/>), which <c>useSimd: false</c> and the AppContext switch select.
    /// </summary>
    /// <remarks>
    /// <para>
    /// The general SIMD path loops over the taps and finds the ring rows through a slot table, so
    /// loop and address arithmetic cost about as many instructions as the FMAs. Here the taps,
    /// the plane strides and the distances between ring rows are constants: each filter is
    /// straight-line code with the six distinct weights (the window is symmetric) in registers.
    /// </para>
    /// <para>
    /// The vertical pass was bound by its loads (55 per eight pixels), so it produces
    /// <see cref="Batch"/> output rows at once from <see cref="RingRows"/> ring rows, each row loaded
    /// once for all of them. Each filtered row is written to two ring slots, r mod 14 and
    /// r mod 14 + 14, so the rows of any batch are contiguous and at constant distances.
    /// </para>
    /// <para>
    /// Every loop runs over whole vectors: a last strip whose width is not a multiple of eight
    /// starts earlier by the difference, and the columns the previous strip already summed are
    /// masked out of its first vector; the caller sends images whose cropped width is below one
    /// strip and not a multiple of eight (tiny ones only) to the general path instead.
    /// </para>
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ComputeFast(RgbImage a, RgbImage b, ReadOnlySpan<float> window, float c1, float c2, Span<double> channels)
    {
        int width = a.Width;
        int height = a.Height;
        int validWidth = width - FastTaps + 1;
        int planeLength = width * height;
        byte[] planarA = ArrayPool<byte>.Shared.Rent(RgbImage.Channels * planeLength);
        byte[] planarB = ArrayPool<byte>.Shared.Rent(RgbImage.Channels * planeLength);
        float[] products = ArrayPool<float>.Shared.Rent(Planes * FastInStride);
        float[] ring = ArrayPool<float>.Shared.Rent(2 * RingRows * SlotStride);
        // The last row that completes a batch of output rows (FastTaps − 2 when none does).
        int lastBatch = height >= RingRows ? height - 1 - ((height - RingRows) % Batch) : FastTaps - 2;
        try
        {
            Deinterleave(a.Pixels, planarA.AsSpan(0, RgbImage.Channels * planeLength), planeLength, useSimd: true);
            Deinterleave(b.Pixels, planarB.AsSpan(0, RgbImage.Channels * planeLength), planeLength, useSimd: true);
            fixed (float* w = window)
            fixed (float* input = products)
            fixed (float* r0 = ring)
            {
                for (int c = 0; c < RgbImage.Channels; c++)
                {
                    double sum = 0;
                    for (int j0 = 0; j0 < validWidth; j0 += StripWidth)
                    {
                        // A last strip narrower than a multiple of eight starts earlier by the
                        // difference, and its first columns (already summed) are masked out.
                        int stripWidth = Math.Min(StripWidth, validWidth - j0);
                        int skip = (8 - (stripWidth % 8)) % 8;
                        int start = j0 - skip;
                        stripWidth += skip;
                        int inWidth = stripWidth + FastTaps - 1;
                        for (int r = 0; r < height; r++)
                        {
                            int rowStart = (c * planeLength) + (r * width) + start;
                            ProductsVector(planarA.AsSpan(rowStart, inWidth), planarB.AsSpan(rowStart, inWidth), FastInStride, products);
                            float* first = r0 + (r % RingRows * SlotStride);
                            HorizontalFast(input, w, first, first + (RingRows * SlotStride), stripWidth);
                            if (r >= RingRows - 1 && (r - RingRows + 1) % Batch == 0)
                            {
                                // Rows r − 13 .. r are in the ring: four cropped output rows are complete.
                                sum += VerticalFast4(r0 + ((r + 1) % RingRows * SlotStride), w, c1, c2, stripWidth, skip);
                            }
                            else if (r > lastBatch)
                            {
                                // The last (height − 10) mod 4 output rows, one at a time.
                                sum += VerticalFast(r0 + ((r + Batch) % RingRows * SlotStride), w, c1, c2, stripWidth, skip);
                            }
                        }
                    }
                    channels[c] = sum / ((double)validWidth * (height - FastTaps + 1));
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(ring);
            ArrayPool<float>.Shared.Return(products);
            ArrayPool<byte>.Shared.Return(planarB);
            ArrayPool<byte>.Shared.Return(planarA);
        }
    }

    /// <summary>Eleven taps of a symmetric window at a constant distance between taps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> Filter11(float* p, int step, Vector256<float> w0, Vector256<float> w1, Vector256<float> w2, Vector256<float> w3, Vector256<float> w4, Vector256<float> w5)
    {
        // Two chains of five and six FMAs instead of one of eleven: the latency of a chain, not
        // the FMA throughput, would otherwise bound a row this short.
        var low = Avx.Multiply(Avx.LoadVector256(p), w0);
        var high = Avx.Multiply(Avx.LoadVector256(p + (10 * step)), w0);
        low = Fma.MultiplyAdd(Avx.LoadVector256(p + step), w1, low);
        high = Fma.MultiplyAdd(Avx.LoadVector256(p + (9 * step)), w1, high);
        low = Fma.MultiplyAdd(Avx.LoadVector256(p + (2 * step)), w2, low);
        high = Fma.MultiplyAdd(Avx.LoadVector256(p + (8 * step)), w2, high);
        low = Fma.MultiplyAdd(Avx.LoadVector256(p + (3 * step)), w3, low);
        high = Fma.MultiplyAdd(Avx.LoadVector256(p + (7 * step)), w3, high);
        low = Fma.MultiplyAdd(Avx.LoadVector256(p + (4 * step)), w4, low);
        high = Fma.MultiplyAdd(Avx.LoadVector256(p + (6 * step)), w4, high);
        low = Fma.MultiplyAdd(Avx.LoadVector256(p + (5 * step)), w5, low);
        return Avx.Add(low, high);
    }

    /// <summary>SIMD twin of <see cref="HorizontalScalar"/> for 11 taps: eight output columns of the four planes per iteration, stored to both ring slots.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void HorizontalFast(float* input, float* w, float* first, float* second, int vectorWidth)
    {
        var w0 = Vector256.Create(w[0]);
        var w1 = Vector256.Create(w[1]);
        var w2 = Vector256.Create(w[2]);
        var w3 = Vector256.Create(w[3]);
        var w4 = Vector256.Create(w[4]);
        var w5 = Vector256.Create(w[5]);
        for (int j = 0; j < vectorWidth; j += 8)
        {
            float* p = input + j;
            var x = Filter11(p, 1, w0, w1, w2, w3, w4, w5);
            var y = Filter11(p + FastInStride, 1, w0, w1, w2, w3, w4, w5);
            var ss = Filter11(p + (2 * FastInStride), 1, w0, w1, w2, w3, w4, w5);
            var xy = Filter11(p + (3 * FastInStride), 1, w0, w1, w2, w3, w4, w5);
            float* o = first + j;
            float* o2 = second + j;
            x.Store(o);
            x.Store(o2);
            y.Store(o + RingPlaneStride);
            y.Store(o2 + RingPlaneStride);
            ss.Store(o + (2 * RingPlaneStride));
            ss.Store(o2 + (2 * RingPlaneStride));
            xy.Store(o + (3 * RingPlaneStride));
            xy.Store(o2 + (3 * RingPlaneStride));
        }
    }

    /// <summary>
    /// SIMD twin of <see cref="VerticalScalar"/> for 11 taps: one output row (the rows after the
    /// last whole batch) from the contiguous ring rows from <paramref name="top"/>, summed in
    /// double without the first vector's <paramref name="skip"/> columns.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe double VerticalFast(float* top, float* w, float c1, float c2, int vectorWidth, int skip)
    {
        var w0 = Vector256.Create(w[0]);
        var w1 = Vector256.Create(w[1]);
        var w2 = Vector256.Create(w[2]);
        var w3 = Vector256.Create(w[3]);
        var w4 = Vector256.Create(w[4]);
        var w5 = Vector256.Create(w[5]);
        var vc1 = Vector256.Create(c1);
        var vc2 = Vector256.Create(c2);
        var centre = Vector256.Create(Centre);
        var total = Vector256<double>.Zero;
        var keep = Vector256.GreaterThanOrEqual(Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7), Vector256.Create((float)skip));
        for (int j = 0; j < vectorWidth; j += 8)
        {
            float* p = top + j;
            var mx = Filter11(p, SlotStride, w0, w1, w2, w3, w4, w5);
            var my = Filter11(p + RingPlaneStride, SlotStride, w0, w1, w2, w3, w4, w5);
            var sss = Filter11(p + (2 * RingPlaneStride), SlotStride, w0, w1, w2, w3, w4, w5);
            var sxy = Filter11(p + (3 * RingPlaneStride), SlotStride, w0, w1, w2, w3, w4, w5);
            var map = MapValues(mx, my, sss, sxy, vc1, vc2, centre);
            if (j == 0)
            {
                map &= keep;
                keep = Vector256<float>.AllBitsSet;
            }
            var (lower, upper) = Vector256.Widen(map);
            total += lower + upper;
        }
        return Vector256.Sum(total);
    }

    /// <summary>
    /// Four consecutive output rows of <see cref="VerticalFast"/> from the fourteen ring rows
    /// from <paramref name="top"/>: each row loaded once feeds all four, 14 loads instead of 44
    /// per plane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe double VerticalFast4(float* top, float* w, float c1, float c2, int vectorWidth, int skip)
    {
        var w0 = Vector256.Create(w[0]);
        var w1 = Vector256.Create(w[1]);
        var w2 = Vector256.Create(w[2]);
        var w3 = Vector256.Create(w[3]);
        var w4 = Vector256.Create(w[4]);
        var w5 = Vector256.Create(w[5]);
        var vc1 = Vector256.Create(c1);
        var vc2 = Vector256.Create(c2);
        var centre = Vector256.Create(Centre);
        var total = Vector256<double>.Zero;
        var keep = Vector256.GreaterThanOrEqual(Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7), Vector256.Create((float)skip));
        for (int j = 0; j < vectorWidth; j += 8)
        {
            float* p = top + j;
            var mx = Filter11x4(p, w0, w1, w2, w3, w4, w5);
            var my = Filter11x4(p + RingPlaneStride, w0, w1, w2, w3, w4, w5);
            var sss = Filter11x4(p + (2 * RingPlaneStride), w0, w1, w2, w3, w4, w5);
            var sxy = Filter11x4(p + (3 * RingPlaneStride), w0, w1, w2, w3, w4, w5);
            var map = MapValues(mx.A, my.A, sss.A, sxy.A, vc1, vc2, centre)
                + MapValues(mx.B, my.B, sss.B, sxy.B, vc1, vc2, centre)
                + MapValues(mx.C, my.C, sss.C, sxy.C, vc1, vc2, centre)
                + MapValues(mx.D, my.D, sss.D, sxy.D, vc1, vc2, centre);
            if (j == 0)
            {
                map &= keep;
                keep = Vector256<float>.AllBitsSet;
            }
            var (lower, upper) = Vector256.Widen(map);
            total += lower + upper;
        }
        return Vector256.Sum(total);
    }

    /// <summary>The 11-tap window over ring rows 0..10, 1..11, 2..12 and 3..13 below <paramref name="p"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe (Vector256<float> A, Vector256<float> B, Vector256<float> C, Vector256<float> D) Filter11x4(float* p, Vector256<float> w0, Vector256<float> w1, Vector256<float> w2, Vector256<float> w3, Vector256<float> w4, Vector256<float> w5)
    {
        // Row i meets weight i − n of output n (0..3); the symmetric window is w0..w5..w0.
        var v = Avx.LoadVector256(p);
        var a = Avx.Multiply(v, w0);
        v = Avx.LoadVector256(p + SlotStride);
        a = Fma.MultiplyAdd(v, w1, a);
        var b = Avx.Multiply(v, w0);
        v = Avx.LoadVector256(p + (2 * SlotStride));
        a = Fma.MultiplyAdd(v, w2, a);
        b = Fma.MultiplyAdd(v, w1, b);
        var c = Avx.Multiply(v, w0);
        v = Avx.LoadVector256(p + (3 * SlotStride));
        a = Fma.MultiplyAdd(v, w3, a);
        b = Fma.MultiplyAdd(v, w2, b);
        c = Fma.MultiplyAdd(v, w1, c);
        var d = Avx.Multiply(v, w0);
        v = Avx.LoadVector256(p + (4 * SlotStride));
        a = Fma.MultiplyAdd(v, w4, a);
        b = Fma.MultiplyAdd(v, w3, b);
        c = Fma.MultiplyAdd(v, w2, c);
        d = Fma.MultiplyAdd(v, w1, d);
        v = Avx.LoadVector256(p + (5 * SlotStride));
        a = Fma.MultiplyAdd(v, w5, a);
        b = Fma.MultiplyAdd(v, w4, b);
        c = Fma.MultiplyAdd(v, w3, c);
        d = Fma.MultiplyAdd(v, w2, d);
        v = Avx.LoadVector256(p + (6 * SlotStride));
        a = Fma.MultiplyAdd(v, w4, a);
        b = Fma.MultiplyAdd(v, w5, b);
        c = Fma.MultiplyAdd(v, w4, c);
        d = Fma.MultiplyAdd(v, w3, d);
        v = Avx.LoadVector256(p + (7 * SlotStride));
        a = Fma.MultiplyAdd(v, w3, a);
        b = Fma.MultiplyAdd(v, w4, b);
        c = Fma.MultiplyAdd(v, w5, c);
        d = Fma.MultiplyAdd(v, w4, d);
        v = Avx.LoadVector256(p + (8 * SlotStride));
        a = Fma.MultiplyAdd(v, w2, a);
        b = Fma.MultiplyAdd(v, w3, b);
        c = Fma.MultiplyAdd(v, w4, c);
        d = Fma.MultiplyAdd(v, w5, d);
        v = Avx.LoadVector256(p + (9 * SlotStride));
        a = Fma.MultiplyAdd(v, w1, a);
        b = Fma.MultiplyAdd(v, w2, b);
        c = Fma.MultiplyAdd(v, w3, c);
        d = Fma.MultiplyAdd(v, w4, d);
        v = Avx.LoadVector256(p + (10 * SlotStride));
        a = Fma.MultiplyAdd(v, w0, a);
        b = Fma.MultiplyAdd(v, w1, b);
        c = Fma.MultiplyAdd(v, w2, c);
        d = Fma.MultiplyAdd(v, w3, d);
        v = Avx.LoadVector256(p + (11 * SlotStride));
        b = Fma.MultiplyAdd(v, w0, b);
        c = Fma.MultiplyAdd(v, w1, c);
        d = Fma.MultiplyAdd(v, w2, d);
        v = Avx.LoadVector256(p + (12 * SlotStride));
        c = Fma.MultiplyAdd(v, w0, c);
        d = Fma.MultiplyAdd(v, w1, d);
        v = Avx.LoadVector256(p + (13 * SlotStride));
        d = Fma.MultiplyAdd(v, w0, d);
        return (a, b, c, d);
    }

    /// <summary>Splits interleaved RGB into three planes (R, G, B) of <paramref name="planeLength"/> bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Deinterleave(ReadOnlySpan<byte> rgb, Span<byte> planes, int planeLength, bool useSimd)
    {
        int start = useSimd && Ssse3.IsSupported ? DeinterleaveSsse3(rgb, planes, planeLength) : 0;
        var red = planes[..planeLength];
        var green = planes.Slice(planeLength, planeLength);
        var blue = planes.Slice(2 * planeLength, planeLength);
        var source = rgb[..(planeLength * RgbImage.Channels)];
        for (int x = start; x < red.Length; x++)
        {
            int i = x * RgbImage.Channels;
            red[x] = source[i];
            green[x] = source[i + 1];
            blue[x] = source[i + 2];
        }
    }

    /// <summary>SIMD twin of <see cref="Deinterleave"/>: 16 pixels (48 bytes) per iteration with byte shuffles; returns the pixels done.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int DeinterleaveSsse3(ReadOnlySpan<byte> rgb, Span<byte> planes, int planeLength)
    {
        // Byte i of 48 belongs to channel i mod 3; each output gathers its bytes from the three
        // loads (0x80 selects zero) and ORs them together.
        var r0 = Vector128.Create(0, 3, 6, 9, 12, 15, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80).AsByte();
        var r1 = Vector128.Create(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 2, 5, 8, 11, 14, 0x80, 0x80, 0x80, 0x80, 0x80).AsByte();
        var r2 = Vector128.Create(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 1, 4, 7, 10, 13).AsByte();
        var g0 = Vector128.Create(1, 4, 7, 10, 13, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80).AsByte();
        var g1 = Vector128.Create(0x80, 0x80, 0x80, 0x80, 0x80, 0, 3, 6, 9, 12, 15, 0x80, 0x80, 0x80, 0x80, 0x80).AsByte();
        var g2 = Vector128.Create(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 2, 5, 8, 11, 14).AsByte();
        var b0 = Vector128.Create(2, 5, 8, 11, 14, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80).AsByte();
        var b1 = Vector128.Create(0x80, 0x80, 0x80, 0x80, 0x80, 1, 4, 7, 10, 13, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80).AsByte();
        var b2 = Vector128.Create(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0, 3, 6, 9, 12, 15).AsByte();
        int x = 0;
        fixed (byte* src = rgb)
        fixed (byte* dst = planes)
        {
            for (; x + 16 <= planeLength; x += 16)
            {
                byte* p = src + (x * RgbImage.Channels);
                var v0 = Sse2.LoadVector128(p);
                var v1 = Sse2.LoadVector128(p + 16);
                var v2 = Sse2.LoadVector128(p + 32);
                Sse2.Store(dst + x, Sse2.Or(Sse2.Or(Ssse3.Shuffle(v0, r0), Ssse3.Shuffle(v1, r1)), Ssse3.Shuffle(v2, r2)));
                Sse2.Store(dst + planeLength + x, Sse2.Or(Sse2.Or(Ssse3.Shuffle(v0, g0), Ssse3.Shuffle(v1, g1)), Ssse3.Shuffle(v2, g2)));
                Sse2.Store(dst + (2 * planeLength) + x, Sse2.Or(Sse2.Or(Ssse3.Shuffle(v0, b0), Ssse3.Shuffle(v1, b1)), Ssse3.Shuffle(v2, b2)));
            }
        }
        return x;
    }

    /// <summary>The four product planes (x, y, x² + y², xy) of one strip row, centred on <see cref="Centre"/>, from <paramref name="from"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ProductsScalar(ReadOnlySpan<byte> bytesA, ReadOnlySpan<byte> bytesB, int inStride, Span<float> products, int from)
    {
        for (int x = from; x < bytesA.Length; x++)
        {
            float va = bytesA[x] - Centre;
            float vb = bytesB[x] - Centre;
            products[x] = va;
            products[inStride + x] = vb;
            products[(2 * inStride) + x] = (va * va) + (vb * vb);
            products[(3 * inStride) + x] = va * vb;
        }
    }

    /// <summary>SIMD twin of <see cref="ProductsScalar"/>: eight pixels per iteration.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ProductsVector(ReadOnlySpan<byte> bytesA, ReadOnlySpan<byte> bytesB, int inStride, Span<float> products)
    {
        int x = 0;
        int inWidth = bytesA.Length;
        var centre = Vector256.Create(Centre);
        fixed (byte* pa = bytesA)
        fixed (byte* pb = bytesB)
        fixed (float* p = products)
        {
            for (; x + 8 <= inWidth; x += 8)
            {
                var va = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(pa + x)) - centre;
                var vb = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(pb + x)) - centre;
                va.Store(p + x);
                vb.Store(p + inStride + x);
                ((va * va) + (vb * vb)).Store(p + (2 * inStride) + x);
                (va * vb).Store(p + (3 * inStride) + x);
            }
        }
        ProductsScalar(bytesA, bytesB, inStride, products, x);
    }

    /// <summary>Horizontally filters the four product planes into a ring slot, output columns from <paramref name="from"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void HorizontalScalar(ReadOnlySpan<float> products, int inStride, ReadOnlySpan<float> window, Span<float> slot, int width, int from)
    {
        int taps = window.Length;
        for (int p = 0; p < Planes; p++)
        {
            var input = products.Slice(p * inStride, inStride);
            var output = slot.Slice(p * StripWidth, StripWidth);
            for (int j = from; j < width; j++)
            {
                float sum = 0;
                for (int k = 0; k < taps; k++)
                {
                    sum += window[k] * input[j + k];
                }
                output[j] = sum;
            }
        }
    }

    /// <summary>
    /// SIMD twin of <see cref="HorizontalScalar"/>: sixteen output columns of all four planes per
    /// iteration (eight independent accumulators hide the FMA latency and amortise the weight
    /// broadcast); pointers let every load use base + index addressing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void HorizontalVector(ReadOnlySpan<float> products, int inStride, ReadOnlySpan<float> window, Span<float> slot, int width)
    {
        int taps = window.Length;
        const int Lanes = 8;
        int vectorWidth = width - (width % Lanes);
        int j = 0;
        fixed (float* input = products)
        fixed (float* output = slot)
        fixed (float* weights = window)
        {
            nint s1 = inStride, s2 = 2 * inStride, s3 = 3 * inStride;
            for (; j + (2 * Lanes) <= vectorWidth; j += 2 * Lanes)
            {
                var x = Vector256<float>.Zero;
                var y = Vector256<float>.Zero;
                var xx = Vector256<float>.Zero;
                var xy = Vector256<float>.Zero;
                var x2 = Vector256<float>.Zero;
                var y2 = Vector256<float>.Zero;
                var xx2 = Vector256<float>.Zero;
                var xy2 = Vector256<float>.Zero;
                float* p = input + j;
                for (int k = 0; k < taps; k++, p++)
                {
                    var w = Vector256.Create(weights[k]);
                    x = Vector256.MultiplyAddEstimate(w, Vector256.Load(p), x);
                    y = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + s1), y);
                    xx = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + s2), xx);
                    xy = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + s3), xy);
                    x2 = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + Lanes), x2);
                    y2 = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + s1 + Lanes), y2);
                    xx2 = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + s2 + Lanes), xx2);
                    xy2 = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + s3 + Lanes), xy2);
                }
                float* o = output + j;
                x.Store(o);
                y.Store(o + StripWidth);
                xx.Store(o + (2 * StripWidth));
                xy.Store(o + (3 * StripWidth));
                x2.Store(o + Lanes);
                y2.Store(o + StripWidth + Lanes);
                xx2.Store(o + (2 * StripWidth) + Lanes);
                xy2.Store(o + (3 * StripWidth) + Lanes);
            }
            for (; j < vectorWidth; j += Lanes)
            {
                var x = Vector256<float>.Zero;
                var y = Vector256<float>.Zero;
                var xx = Vector256<float>.Zero;
                var xy = Vector256<float>.Zero;
                float* p = input + j;
                for (int k = 0; k < taps; k++, p++)
                {
                    var w = Vector256.Create(weights[k]);
                    x = Vector256.MultiplyAddEstimate(w, Vector256.Load(p), x);
                    y = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + s1), y);
                    xx = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + s2), xx);
                    xy = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + s3), xy);
                }
                float* o = output + j;
                x.Store(o);
                y.Store(o + StripWidth);
                xx.Store(o + (2 * StripWidth));
                xy.Store(o + (3 * StripWidth));
            }
        }
        HorizontalScalar(products, inStride, window, slot, width, vectorWidth);
    }

    /// <summary>
    /// One SSIM map value from the filtered planes: the means of the centred x and y, the mean of
    /// x² + y² and the mean of x·y.
    /// </summary>
    /// <remarks>
    /// The map's denominator needs σx² + σy² only as a sum, so x² and y² are filtered as one
    /// plane: four filtered planes instead of five, a fifth less filtering. Subtracting
    /// mx² + my² as one term keeps identical images at exactly 1: every term is then twice its
    /// counterpart in the numerator, and doubling is exact.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Map(float mx, float my, float sss, float sxy, float c1, float c2)
    {
        // Means of the centred data give the variances (shift-invariant) directly; the
        // luminance term needs the true means.
        float ux = mx + Centre;
        float uy = my + Centre;
        float vsum = sss - ((mx * mx) + (my * my));
        float vxy = sxy - (mx * my);
        float uxy = ux * uy;
        return ((uxy + uxy + c1) * (vxy + vxy + c2)) / (((ux * ux) + (uy * uy) + c1) * (vsum + c2));
    }

    /// <summary>Vector twin of <see cref="Map"/>, the eight map values widened and added in double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> MapVector(Vector256<float> mx, Vector256<float> my, Vector256<float> sss, Vector256<float> sxy, Vector256<float> c1, Vector256<float> c2, Vector256<float> centre)
    {
        var (lower, upper) = Vector256.Widen(MapValues(mx, my, sss, sxy, c1, c2, centre));
        return lower + upper;
    }

    /// <summary>Vector twin of <see cref="Map"/>: eight map values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MapValues(Vector256<float> mx, Vector256<float> my, Vector256<float> sss, Vector256<float> sxy, Vector256<float> c1, Vector256<float> c2, Vector256<float> centre)
    {
        var ux = mx + centre;
        var uy = my + centre;
        var vsum = sss - ((mx * mx) + (my * my));
        var vxy = sxy - (mx * my);
        var uxy = ux * uy;
        return ((uxy + uxy + c1) * (vxy + vxy + c2)) / (((ux * ux) + (uy * uy) + c1) * (vsum + c2));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double VerticalScalar(ReadOnlySpan<float> ring, ReadOnlySpan<int> slots, int planeStride, ReadOnlySpan<float> window, float c1, float c2, int validWidth, int from)
    {
        double sum = 0;
        int taps = window.Length;
        for (int j = from; j < validWidth; j++)
        {
            float mx = 0, my = 0, sss = 0, sxy = 0;
            for (int k = 0; k < taps; k++)
            {
                float w = window[k];
                int o = slots[k] + j;
                mx += w * ring[o];
                my += w * ring[o + planeStride];
                sss += w * ring[o + (2 * planeStride)];
                sxy += w * ring[o + (3 * planeStride)];
            }
            sum += Map(mx, my, sss, sxy, c1, c2);
        }
        return sum;
    }

    /// <summary>SIMD twin of <see cref="VerticalScalar"/>: sixteen columns per iteration, summed in double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe double VerticalVector(ReadOnlySpan<float> ring, ReadOnlySpan<int> slots, int planeStride, ReadOnlySpan<float> window, float c1, float c2, int validWidth)
    {
        int taps = window.Length;
        const int Lanes = 8;
        var vc1 = Vector256.Create(c1);
        var vc2 = Vector256.Create(c2);
        var centre = Vector256.Create(Centre);
        var total = Vector256<double>.Zero;
        int j = 0;
        fixed (float* r0 = ring)
        fixed (float* weights = window)
        fixed (int* rows = slots)
        {
            nint p1 = planeStride, p2 = 2 * planeStride, p3 = 3 * planeStride;
            for (; j + (2 * Lanes) <= validWidth; j += 2 * Lanes)
            {
                var mx = Vector256<float>.Zero;
                var my = Vector256<float>.Zero;
                var sxx = Vector256<float>.Zero;
                var sxy = Vector256<float>.Zero;
                var mx2 = Vector256<float>.Zero;
                var my2 = Vector256<float>.Zero;
                var sxx2 = Vector256<float>.Zero;
                var sxy2 = Vector256<float>.Zero;
                for (int k = 0; k < taps; k++)
                {
                    var w = Vector256.Create(weights[k]);
                    float* p = r0 + rows[k] + j;
                    mx = Vector256.MultiplyAddEstimate(w, Vector256.Load(p), mx);
                    my = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + p1), my);
                    sxx = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + p2), sxx);
                    sxy = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + p3), sxy);
                    mx2 = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + Lanes), mx2);
                    my2 = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + p1 + Lanes), my2);
                    sxx2 = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + p2 + Lanes), sxx2);
                    sxy2 = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + p3 + Lanes), sxy2);
                }
                total += MapVector(mx, my, sxx, sxy, vc1, vc2, centre) + MapVector(mx2, my2, sxx2, sxy2, vc1, vc2, centre);
            }
            for (; j + Lanes <= validWidth; j += Lanes)
            {
                var mx = Vector256<float>.Zero;
                var my = Vector256<float>.Zero;
                var sxx = Vector256<float>.Zero;
                var sxy = Vector256<float>.Zero;
                for (int k = 0; k < taps; k++)
                {
                    var w = Vector256.Create(weights[k]);
                    float* p = r0 + rows[k] + j;
                    mx = Vector256.MultiplyAddEstimate(w, Vector256.Load(p), mx);
                    my = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + p1), my);
                    sxx = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + p2), sxx);
                    sxy = Vector256.MultiplyAddEstimate(w, Vector256.Load(p + p3), sxy);
                }
                total += MapVector(mx, my, sxx, sxy, vc1, vc2, centre);
            }
        }
        return Vector256.Sum(total) + VerticalScalar(ring, slots, planeStride, window, c1, c2, validWidth, j);
    }
}
