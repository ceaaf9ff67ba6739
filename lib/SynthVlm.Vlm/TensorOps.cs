using TorchSharp;
using static TorchSharp.torch;

namespace SynthVlm.Vlm;

/// <summary>
/// Tensor arithmetic with numbers whose <see cref="Scalar"/> lives until LibTorch has read it
/// (see <see cref="TorchScalars"/>): the only way lib/SynthVlm.Vlm combines tensors with numbers.
/// </summary>
internal static class TensorOps
{
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, TorchScalars.One);

    public static Tensor Minus(this Tensor a, Tensor b) => a.add(b, TorchScalars.MinusOne);

    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, TorchScalars.One);

    public static Tensor PlusInPlace(this Tensor a, Tensor b, double alpha)
    {
        using var s = TorchScalars.Of(alpha);
        return a.add_(b, s);
    }

    public static Tensor Plus(this Tensor a, double value)
    {
        using var s = TorchScalars.Of(value);
        return a.add(s);
    }

    public static Tensor PlusInPlace(this Tensor a, double value)
    {
        using var s = TorchScalars.Of(value);
        return a.add_(s);
    }

    public static Tensor MinusInPlace(this Tensor a, double value)
    {
        using var s = TorchScalars.Of(value);
        return a.sub_(s);
    }

    public static Tensor Times(this Tensor a, double value)
    {
        using var s = TorchScalars.Of(value);
        return a.mul(s);
    }

    public static Tensor TimesInPlace(this Tensor a, double value)
    {
        using var s = TorchScalars.Of(value);
        return a.mul_(s);
    }

    public static Tensor Over(this Tensor a, double value)
    {
        using var s = TorchScalars.Of(value);
        return a.div(s);
    }

    public static Tensor OverInPlace(this Tensor a, double value)
    {
        using var s = TorchScalars.Of(value);
        return a.div_(s);
    }

    public static Tensor Power(this Tensor a, double exponent)
    {
        using var s = TorchScalars.Of(exponent);
        return a.pow(s);
    }

    public static Tensor FillWhere(this Tensor a, Tensor mask, double value)
    {
        using var s = TorchScalars.Of(value);
        return a.masked_fill(mask, s);
    }

    public static Tensor EqualTo(this Tensor a, long value)
    {
        using var s = TorchScalars.Of(value);
        return a.eq(s);
    }

    public static Tensor NotEqualTo(this Tensor a, long value)
    {
        using var s = TorchScalars.Of(value);
        return a.ne(s);
    }

    public static Tensor AtMost(this Tensor a, double value)
    {
        using var s = TorchScalars.Of(value);
        return a.le(s);
    }

    public static Tensor AtLeast(this Tensor a, double value)
    {
        using var s = TorchScalars.Of(value);
        return a.ge(s);
    }

    public static Tensor ClampMin(this Tensor a, double value)
    {
        using var s = TorchScalars.Of(value);
        return a.clamp_min(s);
    }

    public static Tensor ClampMax(this Tensor a, double value)
    {
        using var s = TorchScalars.Of(value);
        return a.clamp_max(s);
    }

    public static Tensor AddProductInPlace(this Tensor a, Tensor t1, Tensor t2, double value)
    {
        using var s = TorchScalars.Of(value);
        return a.addcmul_(t1, t2, s);
    }

    public static Tensor AddQuotientInPlace(this Tensor a, Tensor t1, Tensor t2, double value)
    {
        using var s = TorchScalars.Of(value);
        return a.addcdiv_(t1, t2, s);
    }

    /// <summary>torch.arange(start, end, step) of int64 on <paramref name="device"/>.</summary>
    public static Tensor Range(long start, long end, long step = 1, Device? device = null)
    {
        using var s = TorchScalars.Of(start);
        using var e = TorchScalars.Of(end);
        using var t = TorchScalars.Of(step);
        return arange(s, e, t, ScalarType.Int64, device);
    }

    /// <summary>baseValue ** exponent, elementwise, in the exponent's dtype (as torch.pow(scalar, tensor)).</summary>
    public static Tensor PowerOf(double baseValue, Tensor exponent)
    {
        using var scope = NewDisposeScope();
        return ones_like(exponent).Times(baseValue).pow(exponent).MoveToOuterDisposeScope();
    }
}
