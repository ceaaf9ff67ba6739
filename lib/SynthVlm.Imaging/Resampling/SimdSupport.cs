namespace SynthVlm.Imaging;

/// <summary>
/// Chooses between each hot loop's SIMD path and its scalar twin. The scalar twins are the
/// reference the SIMD paths are tested against and the fallback on CPUs without the needed
/// instructions; the AppContext switch <c>SynthVlm.Imaging.DisableSimd</c> (or
/// <see cref="ForceScalar"/> in tests) forces them.
/// </summary>
internal static class SimdSupport
{
    /// <summary>The AppContext switch that disables every SIMD path of this library.</summary>
    public const string DisableSwitchName = "SynthVlm.Imaging.DisableSimd";

    private static readonly bool DisabledBySwitch =
        AppContext.TryGetSwitch(DisableSwitchName, out bool disabled) && disabled;

    /// <summary>Process-wide override for tests and benchmarks.</summary>
    internal static bool ForceScalar { get; set; }

    /// <summary>True when the public entry points should take the SIMD paths.</summary>
    public static bool Enabled => !DisabledBySwitch && !ForceScalar;
}
