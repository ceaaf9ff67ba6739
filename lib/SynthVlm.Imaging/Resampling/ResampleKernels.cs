namespace SynthVlm.Imaging;

/// <summary>
/// The continuous filter functions and their supports, as Pillow's Resample.c defines them
/// (evaluated in double precision so the fixed-point coefficients round the same way).
/// </summary>
internal static class ResampleKernels
{
    /// <summary>The filter's half-width in source pixels at scale 1.</summary>
    public static double Support(ResampleFilter filter) => filter switch
    {
        ResampleFilter.Box => 0.5,
        ResampleFilter.Bilinear => 1.0,
        ResampleFilter.Bicubic => 2.0,
        ResampleFilter.Lanczos3 => 3.0,
        _ => throw new ArgumentOutOfRangeException(nameof(filter), filter, "Nearest has no convolution kernel."),
    };

    /// <summary>The filter's weight at distance <paramref name="x"/> (in filter units).</summary>
    public static double Evaluate(ResampleFilter filter, double x) => filter switch
    {
        ResampleFilter.Box => Box(x),
        ResampleFilter.Bilinear => Triangle(x),
        ResampleFilter.Bicubic => Cubic(x),
        ResampleFilter.Lanczos3 => Lanczos(x),
        _ => throw new ArgumentOutOfRangeException(nameof(filter), filter, "Nearest has no convolution kernel."),
    };

    // Half-open on the left so a sample exactly between two pixels belongs to one of them only.
    private static double Box(double x) => x > -0.5 && x <= 0.5 ? 1.0 : 0.0;

    private static double Triangle(double x)
    {
        x = Math.Abs(x);
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    private static double Cubic(double x)
    {
        // Keys' cubic convolution with a = -0.5, the polynomial arrangement Pillow evaluates.
        const double A = -0.5;
        x = Math.Abs(x);
        if (x < 1.0)
        {
            return (((A + 2.0) * x) - (A + 3.0)) * x * x + 1;
        }
        if (x < 2.0)
        {
            return ((((x - 5) * x) + 8) * x - 4) * A;
        }
        return 0.0;
    }

    private static double Sinc(double x)
    {
        if (x == 0.0)
        {
            return 1.0;
        }
        x *= Math.PI;
        return Math.Sin(x) / x;
    }

    private static double Lanczos(double x) => x >= -3.0 && x < 3.0 ? Sinc(x) * Sinc(x / 3) : 0.0;
}
