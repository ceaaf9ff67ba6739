using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SynthVlm.Imaging;

/// <summary>The AVX-512 twins of the two passes; same integer arithmetic, so the same bytes.</summary>
/// <remarks>
/// <para>
/// The horizontal pass is the slow one of the two when vectorised across channels: every output
/// pixel has its own taps, so a vector holds one pixel's three channels and each tap costs a
/// load, a broadcast and a multiply for three useful lanes. Here it is vectorised across rows
/// instead: a block of sixteen source rows is transposed (16×16 byte tiles) so that each byte
/// column becomes sixteen contiguous bytes, one per row. An output byte is then, for all sixteen
/// rows at once, the sum over its taps of a byte column times one broadcast weight, exactly the
/// vertical pass's loop; the sixteen-row output columns are transposed back into rows.
/// </para>
/// <para>
/// <see cref="Vector512.IsHardwareAccelerated"/> is false on Skylake-X / Cascade Lake (see the
/// remarks on the AVX-512 part of <see cref="Ssim"/>); on such a CPU the blocked horizontal pass
/// took 1.6 ms instead of 5.6 ms (1024→336) and 0.6 ms instead of 2.5 ms (336→1024), and the
/// vertical pass 1.05 ms instead of 1.86 ms (336→1024), so they are gated on
/// <see cref="Avx512F.IsSupported"/>.
/// </para>
/// </remarks>
public static partial class Resampler
{
    // Rows per block of the transposed horizontal pass: one per byte of a Vector128, one per int lane of a Vector512.
    private const int BlockRows = 16;

    /// <summary>Horizontal pass over whole blocks of <see cref="BlockRows"/> rows (<paramref name="rows"/> is a multiple of it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void HorizontalAvx512(ReadOnlySpan<byte> src, int srcWidth, int firstRow, Span<byte> dst, int width, int rows, KernelMap map)
    {
        int srcStride = srcWidth * Channels;
        int dstStride = width * Channels;
        int kernelSize = map.KernelSize;
        // Byte column i of the block at columns[16·i ..]; output byte column j at outColumns[16·j ..].
        byte[] columns = ArrayPool<byte>.Shared.Rent(srcStride * BlockRows);
        byte[] outColumns = ArrayPool<byte>.Shared.Rent(dstStride * BlockRows);
        try
        {
            var half = Vector512.Create(Half);
            fixed (byte* s = src)
            fixed (byte* d = dst)
            fixed (byte* cols = columns)
            fixed (byte* outCols = outColumns)
            fixed (int* kk = map.Coefficients)
            fixed (int* starts = map.Starts)
            fixed (int* counts = map.Counts)
            {
                for (int y0 = 0; y0 < rows; y0 += BlockRows)
                {
                    byte* block = s + ((long)(y0 + firstRow) * srcStride);
                    TransposeRows(block, srcStride, cols, srcStride);
                    for (int x = 0; x < width; x++)
                    {
                        int count = counts[x];
                        int* k = kk + (x * kernelSize);
                        // The three channels of one output pixel share the taps: three chains per broadcast weight.
                        byte* p = cols + (starts[x] * Channels * BlockRows);
                        var r = half;
                        var g = half;
                        var b = half;
                        for (int t = 0; t < count; t++, p += Channels * BlockRows)
                        {
                            var w = Vector512.Create(k[t]);
                            r += Avx512F.MultiplyLow(Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(p)), w);
                            g += Avx512F.MultiplyLow(Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(p + BlockRows)), w);
                            b += Avx512F.MultiplyLow(Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(p + (2 * BlockRows))), w);
                        }
                        byte* o = outCols + (x * Channels * BlockRows);
                        Sse2.Store(o, Clip8(r));
                        Sse2.Store(o + BlockRows, Clip8(g));
                        Sse2.Store(o + (2 * BlockRows), Clip8(b));
                    }
                    TransposeColumns(outCols, dstStride, d + ((long)y0 * dstStride), dstStride);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(outColumns);
            ArrayPool<byte>.Shared.Return(columns);
        }
    }

    /// <summary>
    /// Vertical pass with 512-bit vectors: 32 bytes (any mix of channels) per iteration as two
    /// sixteen-lane accumulators, then one, then the scalar twin for the last bytes of a row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void VerticalAvx512(ReadOnlySpan<byte> src, int stride, int rowShift, Span<byte> dst, int height, KernelMap map)
    {
        int kernelSize = map.KernelSize;
        var half = Vector512.Create(Half);
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
                for (; i + 32 <= stride; i += 32)
                {
                    var acc0 = half;
                    var acc1 = half;
                    byte* p = first + i;
                    for (int t = 0; t < count; t++, p += stride)
                    {
                        var w = Vector512.Create(k[t]);
                        acc0 += Avx512F.MultiplyLow(Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(p)), w);
                        acc1 += Avx512F.MultiplyLow(Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(p + 16)), w);
                    }
                    Sse2.Store(dstRow + i, Clip8(acc0));
                    Sse2.Store(dstRow + i + 16, Clip8(acc1));
                }
                for (; i + 16 <= stride; i += 16)
                {
                    var acc = half;
                    byte* p = first + i;
                    for (int t = 0; t < count; t++, p += stride)
                    {
                        acc += Avx512F.MultiplyLow(Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(p)), Vector512.Create(k[t]));
                    }
                    Sse2.Store(dstRow + i, Clip8(acc));
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

    /// <summary>Sixteen lanes of <see cref="Clip8(int)"/>: floor shift, then clamp to a byte (negative sums to 0 before the unsigned narrowing).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Clip8(Vector512<int> sum)
    {
        var shifted = Avx512F.Max(Avx512F.ShiftRightArithmetic(sum, KernelMap.PrecisionBits), Vector512<int>.Zero);
        return Avx512F.ConvertToVector128ByteWithSaturation(shifted.AsUInt32());
    }

    /// <summary>
    /// Sixteen rows of <paramref name="length"/> bytes (<paramref name="stride"/> apart) into
    /// <paramref name="length"/> columns of sixteen bytes; 16×16 tiles, the last partial tile byte by byte.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void TransposeRows(byte* rowsStart, int stride, byte* columns, int length)
    {
        int i = 0;
        for (; i + 16 <= length; i += 16)
        {
            Transpose16x16(rowsStart + i, stride, columns + (i * BlockRows), BlockRows);
        }
        for (; i < length; i++)
        {
            for (int r = 0; r < BlockRows; r++)
            {
                columns[(i * BlockRows) + r] = rowsStart[((long)r * stride) + i];
            }
        }
    }

    /// <summary>The inverse of <see cref="TransposeRows"/>: <paramref name="length"/> sixteen-byte columns into sixteen rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void TransposeColumns(byte* columns, int length, byte* rowsStart, int stride)
    {
        int j = 0;
        for (; j + 16 <= length; j += 16)
        {
            Transpose16x16(columns + (j * BlockRows), BlockRows, rowsStart + j, stride);
        }
        for (; j < length; j++)
        {
            for (int r = 0; r < BlockRows; r++)
            {
                rowsStart[((long)r * stride) + j] = columns[(j * BlockRows) + r];
            }
        }
    }

    /// <summary>
    /// Transposes a 16×16 byte tile: row r of the output is column r of the input. Four rounds of
    /// unpacks, each doubling the width of the interleaved units (8, 16, 32, 64 bits).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Transpose16x16(byte* src, nint srcStride, byte* dst, nint dstStride)
    {
        var a0 = Sse2.LoadVector128(src);
        var a1 = Sse2.LoadVector128(src + srcStride);
        var a2 = Sse2.LoadVector128(src + (2 * srcStride));
        var a3 = Sse2.LoadVector128(src + (3 * srcStride));
        var a4 = Sse2.LoadVector128(src + (4 * srcStride));
        var a5 = Sse2.LoadVector128(src + (5 * srcStride));
        var a6 = Sse2.LoadVector128(src + (6 * srcStride));
        var a7 = Sse2.LoadVector128(src + (7 * srcStride));
        var a8 = Sse2.LoadVector128(src + (8 * srcStride));
        var a9 = Sse2.LoadVector128(src + (9 * srcStride));
        var a10 = Sse2.LoadVector128(src + (10 * srcStride));
        var a11 = Sse2.LoadVector128(src + (11 * srcStride));
        var a12 = Sse2.LoadVector128(src + (12 * srcStride));
        var a13 = Sse2.LoadVector128(src + (13 * srcStride));
        var a14 = Sse2.LoadVector128(src + (14 * srcStride));
        var a15 = Sse2.LoadVector128(src + (15 * srcStride));

        // Bytes of row pairs: b0 holds columns 0..7 of rows 0 and 1 interleaved, b1 columns 8..15.
        var b0 = Sse2.UnpackLow(a0, a1).AsUInt16();
        var b1 = Sse2.UnpackHigh(a0, a1).AsUInt16();
        var b2 = Sse2.UnpackLow(a2, a3).AsUInt16();
        var b3 = Sse2.UnpackHigh(a2, a3).AsUInt16();
        var b4 = Sse2.UnpackLow(a4, a5).AsUInt16();
        var b5 = Sse2.UnpackHigh(a4, a5).AsUInt16();
        var b6 = Sse2.UnpackLow(a6, a7).AsUInt16();
        var b7 = Sse2.UnpackHigh(a6, a7).AsUInt16();
        var b8 = Sse2.UnpackLow(a8, a9).AsUInt16();
        var b9 = Sse2.UnpackHigh(a8, a9).AsUInt16();
        var b10 = Sse2.UnpackLow(a10, a11).AsUInt16();
        var b11 = Sse2.UnpackHigh(a10, a11).AsUInt16();
        var b12 = Sse2.UnpackLow(a12, a13).AsUInt16();
        var b13 = Sse2.UnpackHigh(a12, a13).AsUInt16();
        var b14 = Sse2.UnpackLow(a14, a15).AsUInt16();
        var b15 = Sse2.UnpackHigh(a14, a15).AsUInt16();

        // Four rows: c0 holds columns 0..3 of rows 0..3, c1 columns 4..7, c2 8..11, c3 12..15.
        var c0 = Sse2.UnpackLow(b0, b2).AsUInt32();
        var c1 = Sse2.UnpackHigh(b0, b2).AsUInt32();
        var c2 = Sse2.UnpackLow(b1, b3).AsUInt32();
        var c3 = Sse2.UnpackHigh(b1, b3).AsUInt32();
        var c4 = Sse2.UnpackLow(b4, b6).AsUInt32();
        var c5 = Sse2.UnpackHigh(b4, b6).AsUInt32();
        var c6 = Sse2.UnpackLow(b5, b7).AsUInt32();
        var c7 = Sse2.UnpackHigh(b5, b7).AsUInt32();
        var c8 = Sse2.UnpackLow(b8, b10).AsUInt32();
        var c9 = Sse2.UnpackHigh(b8, b10).AsUInt32();
        var c10 = Sse2.UnpackLow(b9, b11).AsUInt32();
        var c11 = Sse2.UnpackHigh(b9, b11).AsUInt32();
        var c12 = Sse2.UnpackLow(b12, b14).AsUInt32();
        var c13 = Sse2.UnpackHigh(b12, b14).AsUInt32();
        var c14 = Sse2.UnpackLow(b13, b15).AsUInt32();
        var c15 = Sse2.UnpackHigh(b13, b15).AsUInt32();

        // Eight rows: d0 holds columns 0 and 1 of rows 0..7, d1 columns 2 and 3, and so on.
        var d0 = Sse2.UnpackLow(c0, c4).AsUInt64();
        var d1 = Sse2.UnpackHigh(c0, c4).AsUInt64();
        var d2 = Sse2.UnpackLow(c1, c5).AsUInt64();
        var d3 = Sse2.UnpackHigh(c1, c5).AsUInt64();
        var d4 = Sse2.UnpackLow(c2, c6).AsUInt64();
        var d5 = Sse2.UnpackHigh(c2, c6).AsUInt64();
        var d6 = Sse2.UnpackLow(c3, c7).AsUInt64();
        var d7 = Sse2.UnpackHigh(c3, c7).AsUInt64();
        var d8 = Sse2.UnpackLow(c8, c12).AsUInt64();
        var d9 = Sse2.UnpackHigh(c8, c12).AsUInt64();
        var d10 = Sse2.UnpackLow(c9, c13).AsUInt64();
        var d11 = Sse2.UnpackHigh(c9, c13).AsUInt64();
        var d12 = Sse2.UnpackLow(c10, c14).AsUInt64();
        var d13 = Sse2.UnpackHigh(c10, c14).AsUInt64();
        var d14 = Sse2.UnpackLow(c11, c15).AsUInt64();
        var d15 = Sse2.UnpackHigh(c11, c15).AsUInt64();

        // Sixteen rows: column j of rows 0..7 from d(j/2) and of rows 8..15 from d(8 + j/2).
        Sse2.Store(dst, Sse2.UnpackLow(d0, d8).AsByte());
        Sse2.Store(dst + dstStride, Sse2.UnpackHigh(d0, d8).AsByte());
        Sse2.Store(dst + (2 * dstStride), Sse2.UnpackLow(d1, d9).AsByte());
        Sse2.Store(dst + (3 * dstStride), Sse2.UnpackHigh(d1, d9).AsByte());
        Sse2.Store(dst + (4 * dstStride), Sse2.UnpackLow(d2, d10).AsByte());
        Sse2.Store(dst + (5 * dstStride), Sse2.UnpackHigh(d2, d10).AsByte());
        Sse2.Store(dst + (6 * dstStride), Sse2.UnpackLow(d3, d11).AsByte());
        Sse2.Store(dst + (7 * dstStride), Sse2.UnpackHigh(d3, d11).AsByte());
        Sse2.Store(dst + (8 * dstStride), Sse2.UnpackLow(d4, d12).AsByte());
        Sse2.Store(dst + (9 * dstStride), Sse2.UnpackHigh(d4, d12).AsByte());
        Sse2.Store(dst + (10 * dstStride), Sse2.UnpackLow(d5, d13).AsByte());
        Sse2.Store(dst + (11 * dstStride), Sse2.UnpackHigh(d5, d13).AsByte());
        Sse2.Store(dst + (12 * dstStride), Sse2.UnpackLow(d6, d14).AsByte());
        Sse2.Store(dst + (13 * dstStride), Sse2.UnpackHigh(d6, d14).AsByte());
        Sse2.Store(dst + (14 * dstStride), Sse2.UnpackLow(d7, d15).AsByte());
        Sse2.Store(dst + (15 * dstStride), Sse2.UnpackHigh(d7, d15).AsByte());
    }
}
