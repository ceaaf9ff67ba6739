namespace SynthVlm.Diffusion.Schedulers;

/// <summary>
/// The numpy building blocks diffusers' <c>set_timesteps</c> uses, reproduced operation for operation (same
/// formulas, same rounding points) so that timesteps match exactly and σ to the last bit or so.
/// </summary>
internal static class ScheduleMath
{
    /// <summary><c>np.linspace(start, stop, count)</c>: <c>i·step + start</c>, the last value set to <paramref name="stop"/>.</summary>
    public static double[] Linspace(double start, double stop, int count)
    {
        var values = new double[count];
        if (count == 1)
        {
            values[0] = start;
            return values;
        }

        double step = (stop - start) / (count - 1);
        for (int i = 0; i < count; i++)
        {
            values[i] = (i * step) + start;
        }

        values[count - 1] = stop;
        return values;
    }

    /// <summary>
    /// <c>np.arange(start, 0, -step)</c> for a float step: length <c>ceil(-start / -step)</c>, values
    /// <c>start + i·δ</c> with δ = <c>(start − step) − start</c> (numpy fills from the first two values).
    /// </summary>
    public static double[] ArangeDown(double start, double step)
    {
        double lengthExact = (0 - start) / -step;
        int length = (int)Math.Ceiling(lengthExact);
        if (length <= 0)
        {
            return [];
        }

        var values = new double[length];
        values[0] = start;
        if (length > 1)
        {
            double second = start + -step;
            values[1] = second;
            double delta = second - start;
            for (int i = 2; i < length; i++)
            {
                values[i] = start + (i * delta);
            }
        }

        return values;
    }

    /// <summary><c>np.interp(x, arange(len(fp)), fp)</c>.</summary>
    public static double Interp(double x, IReadOnlyList<double> fp)
    {
        int last = fp.Count - 1;
        if (double.IsNaN(x))
        {
            return x;
        }

        if (x >= last)
        {
            return fp[last];
        }

        if (x <= 0)
        {
            return fp[0];
        }

        int j = (int)Math.Floor(x);
        if (j == x)
        {
            return fp[j];
        }

        double slope = fp[j + 1] - fp[j];
        return (slope * (x - j)) + fp[j];
    }

    /// <summary>Karras et al. (2022) noise levels, ρ = 7, from σ_max down to σ_min (numpy float64 arithmetic).</summary>
    public static double[] Karras(double sigmaMin, double sigmaMax, int count)
    {
        const double Rho = 7.0;
        var ramp = Linspace(0, 1, count);
        double minInvRho = Math.Pow(sigmaMin, 1 / Rho);
        double maxInvRho = Math.Pow(sigmaMax, 1 / Rho);
        var sigmas = new double[count];
        for (int i = 0; i < count; i++)
        {
            sigmas[i] = Math.Pow(maxInvRho + (ramp[i] * (minInvRho - maxInvRho)), Rho);
        }

        return sigmas;
    }

    /// <summary>
    /// diffusers' <c>_sigma_to_t</c>: the fractional training timestep whose σ is <paramref name="sigma"/>, by
    /// linear interpolation in log σ. numpy's value-based casting makes the comparison and the weight float32
    /// (the float64 log σ meets a float32 array); the final blend of indices is float64.
    /// </summary>
    public static double SigmaToT(double sigma, TrainingSchedule schedule)
    {
        var logSigmas = schedule.LogSigmas;
        float logSigma = (float)Math.Log(Math.Max(sigma, 1e-10));

        // argmax of the cumulative count of (log σ ≥ log σ_t): the first index where the count peaks.
        int count = 0;
        int best = -1;
        int lowIndex = 0;
        for (int t = 0; t < logSigmas.Length; t++)
        {
            if (logSigma >= (float)logSigmas[t])
            {
                count++;
            }

            if (count > best)
            {
                best = count;
                lowIndex = t;
            }
        }

        lowIndex = Math.Min(lowIndex, logSigmas.Length - 2);
        float low = (float)logSigmas[lowIndex];
        float high = (float)logSigmas[lowIndex + 1];
        float w = (low - logSigma) / (low - high);
        w = Math.Clamp(w, 0f, 1f);
        return ((double)(1f - w) * lowIndex) + ((double)w * (lowIndex + 1));
    }

    /// <summary>numpy's <c>round</c>: half to even.</summary>
    public static double Round(double x) => Math.Round(x, MidpointRounding.ToEven);
}
