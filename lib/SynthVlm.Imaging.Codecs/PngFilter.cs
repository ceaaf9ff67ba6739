using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SynthVlm.Imaging.Codecs;

/// <summary>
/// PNG row filters (RFC 2083 §6) for 8-bit RGB, each returning the row's cost: the sum of
/// |residual| read as signed bytes, the heuristic libpng uses to pick a filter per row.
/// The vector path is checked byte-for-byte against its scalar twin in the tests.
/// </summary>
internal static class PngFilter
{
    private const int Bpp = 3;

    /// <summary>Filters <paramref name="row"/> into <paramref name="output"/> with the vector path when the hardware has one.</summary>
    internal static long Apply(int filter, ReadOnlySpan<byte> row, ReadOnlySpan<byte> prior, Span<byte> output) =>
        Vector128.IsHardwareAccelerated ? Vectorized(filter, row, prior, output) : Scalar(filter, row, prior, output);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static long Scalar(int filter, ReadOnlySpan<byte> row, ReadOnlySpan<byte> prior, Span<byte> output)
    {
        long cost = 0;
        var n = row.Length;
        switch (filter)
        {
            case 0:
                for (var i = 0; i < n; i++)
                {
                    cost += Cost(output[i] = row[i]);
                }
                break;
            case 1:
                for (var i = 0; i < Bpp; i++)
                {
                    cost += Cost(output[i] = row[i]);
                }
                for (var i = Bpp; i < n; i++)
                {
                    cost += Cost(output[i] = (byte)(row[i] - row[i - Bpp]));
                }
                break;
            case 2:
                for (var i = 0; i < n; i++)
                {
                    cost += Cost(output[i] = (byte)(row[i] - prior[i]));
                }
                break;
            case 3:
                for (var i = 0; i < Bpp; i++)
                {
                    cost += Cost(output[i] = (byte)(row[i] - (prior[i] >> 1)));
                }
                for (var i = Bpp; i < n; i++)
                {
                    cost += Cost(output[i] = (byte)(row[i] - ((row[i - Bpp] + prior[i]) >> 1)));
                }
                break;
            default:
                for (var i = 0; i < Bpp; i++)
                {
                    cost += Cost(output[i] = (byte)(row[i] - prior[i])); // Paeth(0, b, 0) = b
                }
                for (var i = Bpp; i < n; i++)
                {
                    cost += Cost(output[i] = (byte)(row[i] - Paeth(row[i - Bpp], prior[i], prior[i - Bpp])));
                }
                break;
        }
        return cost;
    }

    /// <summary>|residual| read as a signed byte: small positive and small negative both score low.</summary>
    internal static int Cost(byte residual) => residual < 128 ? residual : 256 - residual;

    internal static int Paeth(int a, int b, int c)
    {
        var p = a + b - c;
        var pa = Math.Abs(p - a);
        var pb = Math.Abs(p - b);
        var pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }


    /// <summary>
    /// The same filters 16 bytes at a time. Every filter reads only the unfiltered row and the
    /// row above, so lanes are independent; Paeth's comparisons run on 16-bit lanes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static long Vectorized(int filter, ReadOnlySpan<byte> row, ReadOnlySpan<byte> prior, Span<byte> output)
    {
        var n = row.Length;
        if (n < Bpp + Vector128<byte>.Count)
        {
            return Scalar(filter, row, prior, output);
        }
        // The first pixel has no left neighbour; the scalar code handles it and the tail.
        long cost = Scalar(filter, row[..Bpp], prior[..Bpp], output[..Bpp]);
        ref var r0 = ref MemoryMarshal.GetReference(row);
        ref var p0 = ref MemoryMarshal.GetReference(prior);
        ref var o0 = ref MemoryMarshal.GetReference(output);
        var sum = Vector128<uint>.Zero;
        var i = Bpp;
        for (; i + Vector128<byte>.Count <= n; i += Vector128<byte>.Count)
        {
            var x = Vector128.LoadUnsafe(ref r0, (nuint)i);
            Vector128<byte> residual;
            switch (filter)
            {
                case 0:
                    residual = x;
                    break;
                case 1:
                    residual = x - Vector128.LoadUnsafe(ref r0, (nuint)(i - Bpp));
                    break;
                case 2:
                    residual = x - Vector128.LoadUnsafe(ref p0, (nuint)i);
                    break;
                case 3:
                    {
                        var a = Vector128.LoadUnsafe(ref r0, (nuint)(i - Bpp));
                        var b = Vector128.LoadUnsafe(ref p0, (nuint)i);
                        // floor((a + b) / 2) without leaving 8 bits
                        residual = x - ((a & b) + Vector128.ShiftRightLogical(a ^ b, 1));
                        break;
                    }
                default:
                    residual = x - PaethPredict(
                        Vector128.LoadUnsafe(ref r0, (nuint)(i - Bpp)),
                        Vector128.LoadUnsafe(ref p0, (nuint)i),
                        Vector128.LoadUnsafe(ref p0, (nuint)(i - Bpp)));
                    break;
            }
            residual.StoreUnsafe(ref o0, (nuint)i);
            // |(sbyte)r| as a byte: Abs(-128) wraps to 0x80 = 128, which is the right cost.
            var magnitude = Vector128.Abs(residual.AsSByte()).AsByte();
            var (lo, hi) = Vector128.Widen(magnitude);
            var (l2, h2) = Vector128.Widen(lo + hi);
            sum += l2 + h2;
        }
        cost += Vector128.Sum(sum);
        if (i < n)
        {
            cost += ScalarTail(filter, row, prior, output, i);
        }
        return cost;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Vector128<byte> PaethPredict(Vector128<byte> a, Vector128<byte> b, Vector128<byte> c)
    {
        var (aLo, aHi) = Vector128.Widen(a);
        var (bLo, bHi) = Vector128.Widen(b);
        var (cLo, cHi) = Vector128.Widen(c);
        return Vector128.Narrow(
            PaethPredict(aLo.AsInt16(), bLo.AsInt16(), cLo.AsInt16()).AsUInt16(),
            PaethPredict(aHi.AsInt16(), bHi.AsInt16(), cHi.AsInt16()).AsUInt16());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<short> PaethPredict(Vector128<short> a, Vector128<short> b, Vector128<short> c)
    {
        // p = a + b - c; pa = |p - a| = |b - c|, pb = |a - c|, pc = |a + b - 2c|
        var pa = Vector128.Abs(b - c);
        var pb = Vector128.Abs(a - c);
        var pc = Vector128.Abs(a + b - c - c);
        var useA = Vector128.LessThanOrEqual(pa, pb) & Vector128.LessThanOrEqual(pa, pc);
        var useB = Vector128.LessThanOrEqual(pb, pc);
        return Vector128.ConditionalSelect(useA, a, Vector128.ConditionalSelect(useB, b, c));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static long ScalarTail(int filter, ReadOnlySpan<byte> row, ReadOnlySpan<byte> prior, Span<byte> output, int start)
    {
        long cost = 0;
        for (var i = start; i < row.Length; i++)
        {
            int a = row[i - Bpp], b = prior[i], c = prior[i - Bpp];
            var predicted = filter switch
            {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) >> 1,
                _ => Paeth(a, b, c),
            };
            cost += Cost(output[i] = (byte)(row[i] - predicted));
        }
        return cost;
    }
}
