using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SynthVlm.Imaging;

/// <summary>
/// Resizes RGB8 images with Pillow's semantics (<c>Image.resize</c>, Pillow 9.4, default
/// <c>reducing_gap=None</c>): a horizontal pass then a vertical pass, each with per-output-pixel
/// fixed-point kernels from a cached <see cref="KernelMap"/>, the intermediate rounded and
/// clamped to 8 bits between the passes exactly as Pillow's <c>ImagingResampleHorizontal_8bpc</c> /
/// <c>ImagingResampleVertical_8bpc</c> do; so outputs are byte-identical to Pillow's.
/// </summary>
/// <remarks>
/// Each pass has a scalar twin, an SSE4.1 / AVX2 path and an AVX-512 path (the other part of
/// this class), all the same integer arithmetic; <c>useSimd: false</c> or the AppContext switch
/// <c>SynthVlm.Imaging.DisableSimd</c> selects the scalar twins.
/// </remarks>
public static partial class Resampler
{
    private const int Channels = RgbImage.Channels;

    // Pillow starts every accumulator at one half so the final shift rounds to nearest.
    private const int Half = 1 << (KernelMap.PrecisionBits - 1);

    /// <summary>Returns a new image of <paramref name="width"/> × <paramref name="height"/> resampled from <paramref name="source"/>.</summary>
    /// <param name="source">The image to resize (not modified).</param>
    /// <param name="width">Target width, at least 1.</param>
    /// <param name="height">Target height, at least 1.</param>
    /// <param name="filter">The filter; bicubic (a = -0.5) by default, as SynthVLM's SSIMScore uses.</param>
    /// <returns>A pooled image the caller disposes.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A target dimension is below 1 or the target is too large.</exception>
    public static RgbImage Resize(RgbImage source, int width, int height, ResampleFilter filter = ResampleFilter.Bicubic)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        var destination = RgbImage.Allocate(width, height);
        try
        {
            Resize(source, destination, filter, SimdSupport.Enabled);
            return destination;
        }
        catch
        {
            destination.Dispose();
            throw;
        }
    }

    /// <summary>Resamples <paramref name="source"/> into <paramref name="destination"/>, whose size is the target size.</summary>
    /// <param name="source">The image to resize (not modified).</param>
    /// <param name="destination">Receives the result; a different image from <paramref name="source"/> (reuse it across calls to avoid allocations).</param>
    /// <param name="filter">The filter; bicubic by default.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is <paramref name="source"/>.</exception>
    public static void Resize(RgbImage source, RgbImage destination, ResampleFilter filter = ResampleFilter.Bicubic) =>
        Resize(source, destination, filter, SimdSupport.Enabled);

    /// <summary>The implementation, with the SIMD choice explicit so tests run both paths side by side.</summary>
    internal static void Resize(RgbImage source, RgbImage destination, ResampleFilter filter, bool useSimd) =>
        Resize(source, destination, filter, useSimd, allowVector512: true);

    /// <summary>As <see cref="Resize(RgbImage, RgbImage, ResampleFilter, bool)"/>, and able to keep an AVX-512 CPU on the narrower SIMD paths so tests cover them.</summary>
    internal static void Resize(RgbImage source, RgbImage destination, ResampleFilter filter, bool useSimd, bool allowVector512)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        if (ReferenceEquals(source, destination))
        {
            throw new ArgumentException("Resizing in place is not supported; pass a separate destination.", nameof(destination));
        }
        if (!Enum.IsDefined(filter))
        {
            throw new ArgumentOutOfRangeException(nameof(filter), filter, "Unknown resample filter.");
        }

        int width = destination.Width;
        int height = destination.Height;
        ReadOnlySpan<byte> src = source.Pixels;
        Span<byte> dst = destination.Pixels;
        if (width == source.Width && height == source.Height)
        {
            // Pillow returns a copy when the size does not change, for every filter.
            src.CopyTo(dst);
            return;
        }
        if (filter == ResampleFilter.Nearest)
        {
            Nearest(src, source.Width, source.Height, dst, width, height);
            return;
        }

        bool needHorizontal = width != source.Width;
        bool needVertical = height != source.Height;
        if (!needVertical)
        {
            Horizontal(src, source.Width, 0, dst, width, height, KernelMap.Get(source.Width, width, filter), useSimd, allowVector512);
            return;
        }
        var vertical = KernelMap.Get(source.Height, height, filter);
        if (!needHorizontal)
        {
            Vertical(src, source.Stride, 0, dst, height, vertical, useSimd, allowVector512);
            return;
        }

        // Like Pillow, only the source rows some output row uses go through the horizontal pass.
        int firstRow = vertical.Starts[0];
        int lastRow = vertical.Starts[height - 1] + vertical.Counts[height - 1];
        int tempStride = width * Channels;
        if ((long)(lastRow - firstRow) * width > ImageLimits.AbsoluteMaxPixels)
        {
            throw new ArgumentOutOfRangeException(nameof(destination), $"Resizing {source.Width}x{source.Height} to {width}x{height} needs a {width}x{lastRow - firstRow} intermediate, over {ImageLimits.AbsoluteMaxPixels} pixels.");
        }
        int tempLength = (lastRow - firstRow) * tempStride;
        byte[] temp = ArrayPool<byte>.Shared.Rent(tempLength);
        try
        {
            var tempSpan = temp.AsSpan(0, tempLength);
            Horizontal(src, source.Width, firstRow, tempSpan, width, lastRow - firstRow, KernelMap.Get(source.Width, width, filter), useSimd, allowVector512);
            Vertical(tempSpan, tempStride, firstRow, dst, height, vertical, useSimd, allowVector512);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(temp);
        }
    }

    /// <summary>Pillow's clip8: drop the fraction bits (arithmetic shift, i.e. floor) and clamp to a byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte Clip8(int sum) => (byte)Math.Clamp(sum >> KernelMap.PrecisionBits, 0, 255);

    /// <summary>
    /// Pillow's NEAREST resize (<c>ImagingScaleAffine</c>): source coordinate of output pixel i is
    /// <c>(int)(scale/2 + i·scale)</c>, accumulated by repeated addition in double as Pillow does,
    /// because that rounding decides ties at exact pixel boundaries.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Nearest(ReadOnlySpan<byte> src, int srcWidth, int srcHeight, Span<byte> dst, int width, int height)
    {
        int[] rented = ArrayPool<int>.Shared.Rent(width);
        try
        {
            var columns = rented.AsSpan(0, width);
            double stepX = (double)(float)srcWidth / width;
            double xo = stepX * 0.5;
            for (int x = 0; x < width; x++)
            {
                // Clamped for safety only: xo stays below srcWidth - stepX/2 for every x.
                columns[x] = Math.Clamp((int)xo, 0, srcWidth - 1) * Channels;
                xo += stepX;
            }
            double stepY = (double)(float)srcHeight / height;
            double yo = stepY * 0.5;
            int srcStride = srcWidth * Channels;
            int dstStride = width * Channels;
            for (int y = 0; y < height; y++)
            {
                int sy = Math.Clamp((int)yo, 0, srcHeight - 1);
                yo += stepY;
                var srcRow = src.Slice(sy * srcStride, srcStride);
                var dstRow = dst.Slice(y * dstStride, dstStride);
                for (int x = 0; x < width; x++)
                {
                    int s = columns[x];
                    int d = x * Channels;
                    dstRow[d] = srcRow[s];
                    dstRow[d + 1] = srcRow[s + 1];
                    dstRow[d + 2] = srcRow[s + 2];
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rented);
        }
    }

    /// <summary>Horizontal pass over <paramref name="rows"/> source rows starting at <paramref name="firstRow"/>.</summary>
    internal static void Horizontal(ReadOnlySpan<byte> src, int srcWidth, int firstRow, Span<byte> dst, int width, int rows, KernelMap map, bool useSimd, bool allowVector512)
    {
        if (useSimd && allowVector512 && Avx512F.IsSupported && rows >= BlockRows)
        {
            int blocked = rows - (rows % BlockRows);
            HorizontalAvx512(src, srcWidth, firstRow, dst, width, blocked, map);
            if (blocked < rows)
            {
                HorizontalSse41(src, srcWidth, firstRow + blocked, dst[(blocked * width * Channels)..], width, rows - blocked, map);
            }
        }
        else if (useSimd && Sse41.IsSupported)
        {
            HorizontalSse41(src, srcWidth, firstRow, dst, width, rows, map);
        }
        else
        {
            HorizontalScalar(src, srcWidth, firstRow, dst, width, rows, map);
        }
    }

    /// <summary>Vertical pass: output row y sums source rows <c>Starts[y] - rowShift</c> onward.</summary>
    internal static void Vertical(ReadOnlySpan<byte> src, int stride, int rowShift, Span<byte> dst, int height, KernelMap map, bool useSimd, bool allowVector512)
    {
        if (useSimd && allowVector512 && Avx512F.IsSupported)
        {
            VerticalAvx512(src, stride, rowShift, dst, height, map);
        }
        else if (useSimd && Avx2.IsSupported)
        {
            VerticalAvx2(src, stride, rowShift, dst, height, map);
        }
        else
        {
            VerticalScalar(src, stride, rowShift, dst, height, map);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void HorizontalScalar(ReadOnlySpan<byte> src, int srcWidth, int firstRow, Span<byte> dst, int width, int rows, KernelMap map)
    {
        int srcStride = srcWidth * Channels;
        int dstStride = width * Channels;
        int kernelSize = map.KernelSize;
        int[] coefficients = map.Coefficients;
        for (int y = 0; y < rows; y++)
        {
            var srcRow = src.Slice((y + firstRow) * srcStride, srcStride);
            var dstRow = dst.Slice(y * dstStride, dstStride);
            for (int x = 0; x < width; x++)
            {
                PixelScalar(srcRow, map.Starts[x], map.Counts[x], coefficients.AsSpan(x * kernelSize, kernelSize), dstRow.Slice(x * Channels, Channels));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PixelScalar(ReadOnlySpan<byte> srcRow, int start, int count, ReadOnlySpan<int> k, Span<byte> output)
    {
        int r = Half, g = Half, b = Half;
        var taps = srcRow.Slice(start * Channels, count * Channels);
        for (int t = 0; t < count; t++)
        {
            int w = k[t];
            r += taps[t * Channels] * w;
            g += taps[(t * Channels) + 1] * w;
            b += taps[(t * Channels) + 2] * w;
        }
        output[0] = Clip8(r);
        output[1] = Clip8(g);
        output[2] = Clip8(b);
    }

    /// <summary>
    /// One output pixel per iteration, its three channels in the low lanes of a Vector128&lt;int&gt;
    /// (the fourth lane carries the next pixel's red and is discarded). Same integer arithmetic
    /// as the scalar twin, so the results are identical.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void HorizontalSse41(ReadOnlySpan<byte> src, int srcWidth, int firstRow, Span<byte> dst, int width, int rows, KernelMap map)
    {
        int srcStride = srcWidth * Channels;
        int dstStride = width * Channels;
        int kernelSize = map.KernelSize;
        var half = Vector128.Create(Half);
        fixed (byte* s = src)
        fixed (byte* d = dst)
        fixed (int* kk = map.Coefficients)
        fixed (int* starts = map.Starts)
        fixed (int* counts = map.Counts)
        {
            byte* end = s + src.Length;
            for (int y = 0; y < rows; y++)
            {
                byte* srcRow = s + ((long)(y + firstRow) * srcStride);
                byte* dstRow = d + ((long)y * dstStride);
                for (int x = 0; x < width; x++)
                {
                    int count = counts[x];
                    byte* p = srcRow + (starts[x] * Channels);
                    int* k = kk + (x * kernelSize);
                    if (p + (count * Channels) + 1 > end)
                    {
                        // The 4-byte loads would read one byte past the image: last pixel only.
                        PixelScalar(src.Slice((int)(srcRow - s), srcStride), starts[x], count, new ReadOnlySpan<int>(k, count), dst.Slice((int)(dstRow - d) + (x * Channels), Channels));
                        continue;
                    }
                    var acc = half;
                    for (int t = 0; t < count; t++)
                    {
                        var pixel = Sse41.ConvertToVector128Int32(p + (t * Channels));
                        acc = Sse2.Add(acc, Sse41.MultiplyLow(pixel, Vector128.Create(k[t])));
                    }
                    acc = Sse2.ShiftRightArithmetic(acc, KernelMap.PrecisionBits);
                    var words = Sse2.PackSignedSaturate(acc, acc);
                    uint packed = Sse2.PackUnsignedSaturate(words, words).AsUInt32().ToScalar();
                    byte* o = dstRow + (x * Channels);
                    o[0] = (byte)packed;
                    o[1] = (byte)(packed >> 8);
                    o[2] = (byte)(packed >> 16);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void VerticalScalar(ReadOnlySpan<byte> src, int stride, int rowShift, Span<byte> dst, int height, KernelMap map)
    {
        int kernelSize = map.KernelSize;
        for (int y = 0; y < height; y++)
        {
            int start = map.Starts[y] - rowShift;
            int count = map.Counts[y];
            var k = map.Coefficients.AsSpan(y * kernelSize, count);
            var dstRow = dst.Slice(y * stride, stride);
            for (int i = 0; i < stride; i++)
            {
                int sum = Half;
                for (int t = 0; t < count; t++)
                {
                    sum += src[((start + t) * stride) + i] * k[t];
                }
                dstRow[i] = Clip8(sum);
            }
        }
    }

    /// <summary>
    /// Sixteen bytes (any mix of channels: the vertical kernel is the same for all) per
    /// iteration as two Vector256&lt;int&gt; accumulators; the scalar twin finishes the row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void VerticalAvx2(ReadOnlySpan<byte> src, int stride, int rowShift, Span<byte> dst, int height, KernelMap map)
    {
        int kernelSize = map.KernelSize;
        var half = Vector256.Create(Half);
        fixed (byte* s = src)
        fixed (byte* d = dst)
        fixed (int* kk = map.Coefficients)
        {
            for (int y = 0; y < height; y++)
            {
                int start = map.Starts[y] - rowShift;
                int count = map.Counts[y];
                int* k = kk + (y * kernelSize);
                byte* first = s + ((long)start * stride);
                byte* dstRow = d + ((long)y * stride);
                int i = 0;
                for (; i + 16 <= stride; i += 16)
                {
                    var acc0 = half;
                    var acc1 = half;
                    byte* p = first + i;
                    for (int t = 0; t < count; t++, p += stride)
                    {
                        var w = Vector256.Create(k[t]);
                        acc0 = Avx2.Add(acc0, Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(p), w));
                        acc1 = Avx2.Add(acc1, Avx2.MultiplyLow(Avx2.ConvertToVector256Int32(p + 8), w));
                    }
                    acc0 = Avx2.ShiftRightArithmetic(acc0, KernelMap.PrecisionBits);
                    acc1 = Avx2.ShiftRightArithmetic(acc1, KernelMap.PrecisionBits);
                    // Packing works within 128-bit lanes; the permute restores byte order.
                    var words = Avx2.Permute4x64(Avx2.PackSignedSaturate(acc0, acc1).AsInt64(), 0b11_01_10_00).AsInt16();
                    Sse2.Store(dstRow + i, Sse2.PackUnsignedSaturate(words.GetLower(), words.GetUpper()));
                }
                for (; i < stride; i++)
                {
                    int sum = Half;
                    byte* p = first + i;
                    for (int t = 0; t < count; t++, p += stride)
                    {
                        sum += *p * k[t];
                    }
                    dstRow[i] = Clip8(sum);
                }
            }
        }
    }
}
