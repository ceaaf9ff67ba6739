namespace SynthVlm.Diffusion.Schedulers;

/// <summary>
/// diffusers' SDXL base → refiner split ("ensemble of experts"): the base runs while t ≥ cutoff with
/// cutoff = int(round(N − N·f)); the refiner starts at that index (SetBeginIndex) on the handed-over latents
/// without adding noise.
/// </summary>
public static class DenoisingSplit
{
    /// <summary>
    /// The number of leading <paramref name="timesteps"/> the base model runs for <c>denoising_end</c>
    /// <paramref name="denoisingEnd"/> (equally, the refiner's begin index for <c>denoising_start</c> = the same
    /// fraction). SDXL, 60 leading steps, f = 0.8: 47; 30 steps: 23.
    /// </summary>
    /// <param name="timesteps">The scheduler's timesteps, decreasing.</param>
    /// <param name="denoisingEnd">Fraction of the denoising done by the base, in (0, 1).</param>
    /// <param name="numTrainTimesteps">The scheduler's num_train_timesteps (1000 for SDXL).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="denoisingEnd"/> is not strictly between 0 and 1.</exception>
    public static int BaseSteps(IReadOnlyList<double> timesteps, double denoisingEnd, int numTrainTimesteps = 1000)
    {
        ArgumentNullException.ThrowIfNull(timesteps);
        if (!(denoisingEnd > 0 && denoisingEnd < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(denoisingEnd), denoisingEnd, "denoisingEnd must be strictly between 0 and 1.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(numTrainTimesteps, 2);
        int cutoff = Cutoff(denoisingEnd, numTrainTimesteps);
        int count = 0;
        foreach (double t in timesteps)
        {
            if (t >= cutoff)
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>diffusers' <c>discrete_timestep_cutoff</c> = int(round(N − N·f)) (Python's round: half to even).</summary>
    public static int Cutoff(double fraction, int numTrainTimesteps = 1000) =>
        (int)Math.Round(numTrainTimesteps - (numTrainTimesteps * fraction), MidpointRounding.ToEven);
}
