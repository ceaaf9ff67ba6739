using TorchSharp;

namespace SynthVlm.Vlm;

/// <summary>
/// Scalars that live as long as the process. TorchSharp 0.107 turns numbers into
/// <see cref="Scalar"/> objects implicitly (and <c>Tensor.add(Tensor)</c> makes an alpha of 1) but
/// nothing keeps such a temporary alive while LibTorch reads it: when a GC runs during the native
/// call (another thread allocating is enough), its finalizer frees it under LibTorch's feet
/// ("Expected false to be true ... Scalar::toFloat", or a wrong value). bench/SynthVlm.Bench.Training
/// <c>--scalar-race</c> shows it in ~30,000 adds. lib/SynthVlm.Vlm bans the implicit conversions
/// (BannedSymbols.txt): constants come from here, other numbers through <see cref="Of(double)"/>
/// inside a <c>using</c>, which keeps the Scalar alive until the call has returned.
/// </summary>
public static class TorchScalars
{
    /// <summary>1, the alpha of an addition.</summary>
    public static Scalar One { get; } = 1.0.ToScalar();

    /// <summary>−1, the alpha of a subtraction.</summary>
    public static Scalar MinusOne { get; } = (-1.0).ToScalar();

    /// <summary>0.</summary>
    public static Scalar Zero { get; } = 0.0.ToScalar();

    /// <summary>A scalar for <paramref name="value"/>; dispose it after the call that reads it (<c>using var s = TorchScalars.Of(x)</c>).</summary>
    public static Scalar Of(double value) => value.ToScalar();

    /// <summary>A scalar for <paramref name="value"/>; dispose it after the call that reads it.</summary>
    public static Scalar Of(long value) => value.ToScalar();

    /// <summary>A scalar for <paramref name="value"/>; dispose it after the call that reads it.</summary>
    public static Scalar Of(bool value) => value.ToScalar();
}
