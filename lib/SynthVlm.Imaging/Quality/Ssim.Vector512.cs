using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SynthVlm.Imaging;

/// <summary>The AVX-512 twin of the 11-tap fast path (<see cref="ComputeFast"/>).</summary>
/// <remarks>
/// <para>
/// Same structure as the AVX2 path (products of one strip row, horizontal filter into a ring,
/// four output rows per vertical step, map summed at once) with sixteen lanes, so half the
/// instructions. Two things differ because a sixteen-lane row is wider:
/// </para>
/// <para>
/// The ring is not doubled. The AVX2 path stores each filtered row twice so that a batch's rows
/// lie at constant distances; here the vertical step reads its fourteen rows through a table of
/// offsets built once per batch instead (one scalar load per vector load, which the load ports
/// absorb: the step is bound by its FMAs), so the ring is half the size and its rows are stored once.
/// </para>
/// <para>
/// Strips are <see cref="StripWidth512"/> columns, chosen by measurement (1024×1024, minimum of
/// 60 runs, builds alternated): 96 columns 12.4–13.0 ms, 128 12.1–12.2, 192 11.9–12.1, 256
/// 11.5–12.4, 512 11.5–13.0. The ring of a 192-column strip (47 KB) no longer fits L1, but the
/// vertical step is bound by its FMAs rather than its loads, and wider strips recompute fewer
/// overlapping columns (ten per strip) in the products and the horizontal pass.
/// </para>
/// <para>
/// <see cref="Vector512.IsHardwareAccelerated"/> is false on Skylake-X / Cascade Lake, where .NET
/// avoids 512-bit vectors by default for fear of frequency throttling in mixed code; this path
/// is all vector arithmetic for milliseconds at a time, and measured 1.6 times faster than the
/// AVX2 path on such a CPU, so it is gated on <see cref="Avx512F.IsSupported"/> alone.
/// </para>
/// </remarks>
public static partial class Ssim
{
    private const int Lanes512 = 16;

    // Output columns per strip of the AVX-512 path (a multiple of 16); see the remarks.
    // Tests (SimdPathTests) pick image widths around it to reach every strip tail.
    internal const int StripWidth512 = 192;

    // Plane stride of the product row: StripWidth512 + FastTaps − 1 rounded up to sixteen, so
    // every plane starts on a 64-byte boundary and the second aligned vector that Filter11Row
    // reads for the last columns stays inside its plane.
    private const int InStride512 = StripWidth512 + 16;

    // Plane and slot strides of the ring, padded off multiples of 512 bytes (see SlotStride).
    private const int RingPlaneStride512 = StripWidth512 + 16;
    private const int SlotStride512 = (Planes * RingPlaneStride512) + 16;

    /// <summary>True when <see cref="ComputeFast512"/> can run an image whose cropped width is <paramref name="validWidth"/>.</summary>
    private static bool CanUseFast512(int validWidth) =>
        Avx512F.IsSupported && (validWidth % Lanes512 == 0 || validWidth > StripWidth512);

    /// <summary>The 11-tap window with AVX-512; see the remarks on this file's part of <see cref="Ssim"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ComputeFast512(RgbImage a, RgbImage b, ReadOnlySpan<float> window, float c1, float c2, Span<double> channels)
    {
        int width = a.Width;
        int height = a.Height;
        int validWidth = width - FastTaps + 1;
        int planeLength = width * height;
        byte[] planarA = ArrayPool<byte>.Shared.Rent(RgbImage.Channels * planeLength);
        byte[] planarB = ArrayPool<byte>.Shared.Rent(RgbImage.Channels * planeLength);
        // Sixteen floats of slack so both buffers can start on a 64-byte boundary.
        float[] products = ArrayPool<float>.Shared.Rent((Planes * InStride512) + Lanes512);
        float[] ring = ArrayPool<float>.Shared.Rent((RingRows * SlotStride512) + Lanes512);
        int lastBatch = height >= RingRows ? height - 1 - ((height - RingRows) % Batch) : FastTaps - 2;
        try
        {
            Deinterleave(a.Pixels, planarA.AsSpan(0, RgbImage.Channels * planeLength), planeLength, useSimd: true);
            Deinterleave(b.Pixels, planarB.AsSpan(0, RgbImage.Channels * planeLength), planeLength, useSimd: true);
            nint* offsets = stackalloc nint[RingRows];
            fixed (float* w = window)
            fixed (float* productsPinned = products)
            fixed (float* ringPinned = ring)
            fixed (byte* pa = planarA)
            fixed (byte* pb = planarB)
            {
                float* input = Align64(productsPinned);
                float* r0 = Align64(ringPinned);
                for (int c = 0; c < RgbImage.Channels; c++)
                {
                    double sum = 0;
                    for (int j0 = 0; j0 < validWidth; j0 += StripWidth512)
                    {
                        // As in ComputeFast: a last strip narrower than a multiple of the lanes
                        // starts earlier, and the columns it repeats are masked out.
                        int stripWidth = Math.Min(StripWidth512, validWidth - j0);
                        int skip = (Lanes512 - (stripWidth % Lanes512)) % Lanes512;
                        int start = j0 - skip;
                        stripWidth += skip;
                        int inWidth = stripWidth + FastTaps - 1;
                        for (int r = 0; r < height; r++)
                        {
                            int rowStart = (c * planeLength) + (r * width) + start;
                            Products512(pa + rowStart, pb + rowStart, inWidth, input);
                            Horizontal512(input, w, r0 + (r % RingRows * SlotStride512), stripWidth);
                            if (r >= RingRows - 1 && (r - RingRows + 1) % Batch == 0)
                            {
                                // Rows r − 13 .. r are in the ring: four cropped output rows are complete.
                                for (int i = 0; i < RingRows; i++)
                                {
                                    offsets[i] = (r - RingRows + 1 + i) % RingRows * SlotStride512;
                                }
                                sum += Vertical512x4(r0, offsets, w, c1, c2, stripWidth, skip);
                            }
                            else if (r > lastBatch)
                            {
                                // The last (height − 10) mod 4 output rows, one at a time.
                                for (int i = 0; i < FastTaps; i++)
                                {
                                    offsets[i] = (r - FastTaps + 1 + i) % RingRows * SlotStride512;
                                }
                                sum += Vertical512(r0, offsets, w, c1, c2, stripWidth, skip);
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe float* Align64(float* p) => (float*)(((nint)p + 63) & ~(nint)63);

    /// <summary>
    /// Sixteen-lane twin of <see cref="ProductsScalar"/>: the four product planes (x, y, x² + y²,
    /// xy, centred) of <paramref name="count"/> pixels; the last partial vector is done by the
    /// scalar twin on the same layout.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Products512(byte* a, byte* b, int count, float* products)
    {
        var centre = Vector512.Create(Centre);
        int x = 0;
        for (; x + Lanes512 <= count; x += Lanes512)
        {
            var va = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(a + x))) - centre;
            var vb = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(b + x))) - centre;
            float* p = products + x;
            va.Store(p);
            vb.Store(p + InStride512);
            ((va * va) + (vb * vb)).Store(p + (2 * InStride512));
            (va * vb).Store(p + (3 * InStride512));
        }
        for (; x < count; x++)
        {
            float va = a[x] - Centre;
            float vb = b[x] - Centre;
            products[x] = va;
            products[InStride512 + x] = vb;
            products[(2 * InStride512) + x] = (va * va) + (vb * vb);
            products[(3 * InStride512) + x] = va * vb;
        }
    }

    /// <summary>Eleven taps of the symmetric window along a row, sixteen lanes, from a 64-byte aligned <paramref name="p"/>.</summary>
    /// <remarks>
    /// Ten of the eleven windows start off a 64-byte boundary, and a 512-bit load that crosses a
    /// cache line costs two. Shifts 1..5 are therefore cut from the two aligned vectors at
    /// <paramref name="p"/> with <c>valignd</c> (port 5) and shifts 6..10 loaded, which balances the
    /// load ports against the shuffle port; measured 2–4 % faster for the whole SSIM than eleven
    /// loads, with the same FMAs in the same order, so the same values.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<float> Filter11Row(float* p, Vector512<float> w0, Vector512<float> w1, Vector512<float> w2, Vector512<float> w3, Vector512<float> w4, Vector512<float> w5)
    {
        var v0 = Vector512.Load(p).AsUInt32();
        var v1 = Vector512.Load(p + Lanes512).AsUInt32();
        var low = v0.AsSingle() * w0;
        var high = Vector512.Load(p + 10) * w0;
        low = Avx512F.FusedMultiplyAdd(Avx512F.AlignRight32(v1, v0, 1).AsSingle(), w1, low);
        high = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 9), w1, high);
        low = Avx512F.FusedMultiplyAdd(Avx512F.AlignRight32(v1, v0, 2).AsSingle(), w2, low);
        high = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 8), w2, high);
        low = Avx512F.FusedMultiplyAdd(Avx512F.AlignRight32(v1, v0, 3).AsSingle(), w3, low);
        high = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 7), w3, high);
        low = Avx512F.FusedMultiplyAdd(Avx512F.AlignRight32(v1, v0, 4).AsSingle(), w4, low);
        high = Avx512F.FusedMultiplyAdd(Vector512.Load(p + 6), w4, high);
        low = Avx512F.FusedMultiplyAdd(Avx512F.AlignRight32(v1, v0, 5).AsSingle(), w5, low);
        return low + high;
    }

    /// <summary>Sixteen-lane twin of <see cref="HorizontalScalar"/> for 11 taps: the four planes of one strip row into a ring slot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Horizontal512(float* input, float* w, float* slot, int vectorWidth)
    {
        var w0 = Vector512.Create(w[0]);
        var w1 = Vector512.Create(w[1]);
        var w2 = Vector512.Create(w[2]);
        var w3 = Vector512.Create(w[3]);
        var w4 = Vector512.Create(w[4]);
        var w5 = Vector512.Create(w[5]);
        for (int j = 0; j < vectorWidth; j += Lanes512)
        {
            float* p = input + j;
            float* o = slot + j;
            Filter11Row(p, w0, w1, w2, w3, w4, w5).Store(o);
            Filter11Row(p + InStride512, w0, w1, w2, w3, w4, w5).Store(o + RingPlaneStride512);
            Filter11Row(p + (2 * InStride512), w0, w1, w2, w3, w4, w5).Store(o + (2 * RingPlaneStride512));
            Filter11Row(p + (3 * InStride512), w0, w1, w2, w3, w4, w5).Store(o + (3 * RingPlaneStride512));
        }
    }

    /// <summary>Sixteen-lane twin of <see cref="MapValues(Vector256{float}, Vector256{float}, Vector256{float}, Vector256{float}, Vector256{float}, Vector256{float}, Vector256{float})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> MapValues(Vector512<float> mx, Vector512<float> my, Vector512<float> sss, Vector512<float> sxy, Vector512<float> c1, Vector512<float> c2, Vector512<float> centre)
    {
        var ux = mx + centre;
        var uy = my + centre;
        var vsum = sss - ((mx * mx) + (my * my));
        var vxy = sxy - (mx * my);
        var uxy = ux * uy;
        return ((uxy + uxy + c1) * (vxy + vxy + c2)) / (((ux * ux) + (uy * uy) + c1) * (vsum + c2));
    }

    /// <summary>Lanes at or above <paramref name="skip"/>: the first vector of a strip that starts <paramref name="skip"/> columns early.</summary>
    private static Vector512<float> KeepMask(int skip) =>
        Vector512.GreaterThanOrEqual(Vector512.Create(0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), Vector512.Create((float)skip));

    /// <summary>The map of sixteen columns widened and added in double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Widened(Vector512<float> map)
    {
        var (lower, upper) = Vector512.Widen(map);
        return lower + upper;
    }

    /// <summary>
    /// One output row (after the last whole batch) from the eleven ring rows at
    /// <paramref name="offsets"/>, summed without the first vector's <paramref name="skip"/> columns.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe double Vertical512(float* ring, nint* offsets, float* w, float c1, float c2, int vectorWidth, int skip)
    {
        var vc1 = Vector512.Create(c1);
        var vc2 = Vector512.Create(c2);
        var centre = Vector512.Create(Centre);
        var keep = KeepMask(skip);
        var total = Vector512<double>.Zero;
        for (int j = 0; j < vectorWidth; j += Lanes512)
        {
            float* p = ring + j;
            var map = MapValues(
                FilterRows(p, offsets, w),
                FilterRows(p + RingPlaneStride512, offsets, w),
                FilterRows(p + (2 * RingPlaneStride512), offsets, w),
                FilterRows(p + (3 * RingPlaneStride512), offsets, w),
                vc1,
                vc2,
                centre);
            if (j == 0)
            {
                map &= keep;
            }
            total += Widened(map);
        }
        return Vector512.Sum(total);
    }

    /// <summary>The 11-tap window over the ring rows at <paramref name="offsets"/> from <paramref name="p"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<float> FilterRows(float* p, nint* offsets, float* w)
    {
        var acc = Vector512<float>.Zero;
        for (int k = 0; k < FastTaps; k++)
        {
            acc = Avx512F.FusedMultiplyAdd(Vector512.Load(p + offsets[k]), Vector512.Create(w[k]), acc);
        }
        return acc;
    }

    /// <summary>
    /// Four consecutive output rows from the fourteen ring rows at <paramref name="offsets"/>: each
    /// row loaded once feeds all four (as <see cref="VerticalFast4"/>), summed in double without
    /// the first vector's <paramref name="skip"/> columns.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe double Vertical512x4(float* ring, nint* offsets, float* w, float c1, float c2, int vectorWidth, int skip)
    {
        var w0 = Vector512.Create(w[0]);
        var w1 = Vector512.Create(w[1]);
        var w2 = Vector512.Create(w[2]);
        var w3 = Vector512.Create(w[3]);
        var w4 = Vector512.Create(w[4]);
        var w5 = Vector512.Create(w[5]);
        var vc1 = Vector512.Create(c1);
        var vc2 = Vector512.Create(c2);
        var centre = Vector512.Create(Centre);
        var keep = KeepMask(skip);
        var total = Vector512<double>.Zero;
        for (int j = 0; j < vectorWidth; j += Lanes512)
        {
            float* p = ring + j;
            var mx = Filter11x4(p, offsets, w0, w1, w2, w3, w4, w5);
            var my = Filter11x4(p + RingPlaneStride512, offsets, w0, w1, w2, w3, w4, w5);
            var sss = Filter11x4(p + (2 * RingPlaneStride512), offsets, w0, w1, w2, w3, w4, w5);
            var sxy = Filter11x4(p + (3 * RingPlaneStride512), offsets, w0, w1, w2, w3, w4, w5);
            var map = MapValues(mx.A, my.A, sss.A, sxy.A, vc1, vc2, centre)
                + MapValues(mx.B, my.B, sss.B, sxy.B, vc1, vc2, centre)
                + MapValues(mx.C, my.C, sss.C, sxy.C, vc1, vc2, centre)
                + MapValues(mx.D, my.D, sss.D, sxy.D, vc1, vc2, centre);
            if (j == 0)
            {
                map &= keep;
            }
            total += Widened(map);
        }
        return Vector512.Sum(total);
    }

    /// <summary>The 11-tap window over ring rows 0..10, 1..11, 2..12 and 3..13 (at <paramref name="o"/>) from <paramref name="p"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe (Vector512<float> A, Vector512<float> B, Vector512<float> C, Vector512<float> D) Filter11x4(float* p, nint* o, Vector512<float> w0, Vector512<float> w1, Vector512<float> w2, Vector512<float> w3, Vector512<float> w4, Vector512<float> w5)
    {
        // Row i meets weight i − n of output n (0..3); the symmetric window is w0..w5..w0.
        var v = Vector512.Load(p + o[0]);
        var a = v * w0;
        v = Vector512.Load(p + o[1]);
        a = Avx512F.FusedMultiplyAdd(v, w1, a);
        var b = v * w0;
        v = Vector512.Load(p + o[2]);
        a = Avx512F.FusedMultiplyAdd(v, w2, a);
        b = Avx512F.FusedMultiplyAdd(v, w1, b);
        var c = v * w0;
        v = Vector512.Load(p + o[3]);
        a = Avx512F.FusedMultiplyAdd(v, w3, a);
        b = Avx512F.FusedMultiplyAdd(v, w2, b);
        c = Avx512F.FusedMultiplyAdd(v, w1, c);
        var d = v * w0;
        v = Vector512.Load(p + o[4]);
        a = Avx512F.FusedMultiplyAdd(v, w4, a);
        b = Avx512F.FusedMultiplyAdd(v, w3, b);
        c = Avx512F.FusedMultiplyAdd(v, w2, c);
        d = Avx512F.FusedMultiplyAdd(v, w1, d);
        v = Vector512.Load(p + o[5]);
        a = Avx512F.FusedMultiplyAdd(v, w5, a);
        b = Avx512F.FusedMultiplyAdd(v, w4, b);
        c = Avx512F.FusedMultiplyAdd(v, w3, c);
        d = Avx512F.FusedMultiplyAdd(v, w2, d);
        v = Vector512.Load(p + o[6]);
        a = Avx512F.FusedMultiplyAdd(v, w4, a);
        b = Avx512F.FusedMultiplyAdd(v, w5, b);
        c = Avx512F.FusedMultiplyAdd(v, w4, c);
        d = Avx512F.FusedMultiplyAdd(v, w3, d);
        v = Vector512.Load(p + o[7]);
        a = Avx512F.FusedMultiplyAdd(v, w3, a);
        b = Avx512F.FusedMultiplyAdd(v, w4, b);
        c = Avx512F.FusedMultiplyAdd(v, w5, c);
        d = Avx512F.FusedMultiplyAdd(v, w4, d);
        v = Vector512.Load(p + o[8]);
        a = Avx512F.FusedMultiplyAdd(v, w2, a);
        b = Avx512F.FusedMultiplyAdd(v, w3, b);
        c = Avx512F.FusedMultiplyAdd(v, w4, c);
        d = Avx512F.FusedMultiplyAdd(v, w5, d);
        v = Vector512.Load(p + o[9]);
        a = Avx512F.FusedMultiplyAdd(v, w1, a);
        b = Avx512F.FusedMultiplyAdd(v, w2, b);
        c = Avx512F.FusedMultiplyAdd(v, w3, c);
        d = Avx512F.FusedMultiplyAdd(v, w4, d);
        v = Vector512.Load(p + o[10]);
        a = Avx512F.FusedMultiplyAdd(v, w0, a);
        b = Avx512F.FusedMultiplyAdd(v, w1, b);
        c = Avx512F.FusedMultiplyAdd(v, w2, c);
        d = Avx512F.FusedMultiplyAdd(v, w3, d);
        v = Vector512.Load(p + o[11]);
        b = Avx512F.FusedMultiplyAdd(v, w0, b);
        c = Avx512F.FusedMultiplyAdd(v, w1, c);
        d = Avx512F.FusedMultiplyAdd(v, w2, d);
        v = Vector512.Load(p + o[12]);
        c = Avx512F.FusedMultiplyAdd(v, w0, c);
        d = Avx512F.FusedMultiplyAdd(v, w1, d);
        v = Vector512.Load(p + o[13]);
        d = Avx512F.FusedMultiplyAdd(v, w0, d);
        return (a, b, c, d);
    }
}
