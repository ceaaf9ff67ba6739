using System.Numerics;
using System.Runtime.InteropServices;

namespace SynthVlm.Diffusion.Schedulers;

/// <summary>
/// Elementwise float32 primitives for the scheduler updates. Each rounds after every multiply and add (no fused
/// multiply-add: .NET never contracts, and torch's separate kernels do not either), so a formula written as a
/// sequence of these calls rounds exactly as diffusers' tensor expression does. Subtracting <c>k·x</c> is written
/// as adding <c>(−k)·x</c>, which IEEE 754 makes bit-identical.
/// </summary>
internal static class Float32Kernels
{
    /// <summary><c>destination = x · k</c>.</summary>
    public static void Multiply(ReadOnlySpan<float> x, float k, Span<float> destination)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vk = new Vector<float>(k);
            var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
            var vd = MemoryMarshal.Cast<float, Vector<float>>(destination);
            for (int v = 0; v < vx.Length; v++)
            {
                vd[v] = vx[v] * vk;
            }

            i = vx.Length * Vector<float>.Count;
        }

        for (; i < x.Length; i++)
        {
            destination[i] = x[i] * k;
        }
    }

    /// <summary><c>destination = x / d</c> (a true division, as torch does; not a multiply by 1/d).</summary>
    public static void Divide(ReadOnlySpan<float> x, float d, Span<float> destination)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vdiv = new Vector<float>(d);
            var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
            var vd = MemoryMarshal.Cast<float, Vector<float>>(destination);
            for (int v = 0; v < vx.Length; v++)
            {
                vd[v] = vx[v] / vdiv;
            }

            i = vx.Length * Vector<float>.Count;
        }

        for (; i < x.Length; i++)
        {
            destination[i] = x[i] / d;
        }
    }

    /// <summary><c>destination = a − b</c>.</summary>
    public static void Subtract(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> destination)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = MemoryMarshal.Cast<float, Vector<float>>(a);
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b);
            var vd = MemoryMarshal.Cast<float, Vector<float>>(destination);
            for (int v = 0; v < va.Length; v++)
            {
                vd[v] = va[v] - vb[v];
            }

            i = va.Length * Vector<float>.Count;
        }

        for (; i < a.Length; i++)
        {
            destination[i] = a[i] - b[i];
        }
    }

    /// <summary><c>accumulator = accumulator + k · x</c>, two roundings.</summary>
    public static void AddScaled(Span<float> accumulator, float k, ReadOnlySpan<float> x)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vk = new Vector<float>(k);
            var vx = MemoryMarshal.Cast<float, Vector<float>>(x);
            var va = MemoryMarshal.Cast<float, Vector<float>>(accumulator);
            for (int v = 0; v < vx.Length; v++)
            {
                va[v] += vx[v] * vk;
            }

            i = vx.Length * Vector<float>.Count;
        }

        for (; i < x.Length; i++)
        {
            accumulator[i] += x[i] * k;
        }
    }
}
