namespace SynthVlm.Diffusion.Schedulers;

/// <summary>
/// diffusers' img2img schedule (StableDiffusionXLImg2ImgPipeline.get_timesteps with no denoising_start, and its
/// "apply denoising_end" cut): the run starts at index t_start = max(N − min(int(N·strength), N), 0) of the full
/// N-step schedule, the starting latents are the given latents plus noise at that index's noise level, and, when a
/// denoising_end is given, only the leading timesteps ≥ int(round(1000 − 1000·end)) of that tail run.
/// </summary>
/// <remarks>
/// Quirks reproduced: int() truncates the float64 product, so 7 steps at strength 0.7 give int(4.8999999999999995) = 4
/// steps, not 5; N is the requested step count even when the scheduler's trailing spacing yields one extra timestep;
/// with a denoising_end the run stops early and the result keeps the noise of the next timestep (the SynthVLM script
/// passes denoising_end = 0.8 to its refiner call, so with 60 steps and strength 0.3 the refiner runs 5 of 18 steps,
/// 273 … 209, and the decoded latents are still at the noise level of timestep 193); a cut may leave no step at all,
/// and the noise is added anyway.
/// </remarks>
public static class Img2ImgStrength
{
    /// <summary>int(<paramref name="steps"/> · <paramref name="strength"/>) capped at <paramref name="steps"/>: diffusers' init_timestep.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="steps"/> is below 1 or <paramref name="strength"/> is not in [0, 1].</exception>
    public static int InitTimestep(int steps, double strength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        if (!(strength is >= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(strength), strength, "strength must be between 0 and 1.");
        }
        return Math.Min((int)(steps * strength), steps);
    }

    /// <summary>
    /// The index into the scheduler's timesteps where the img2img run starts (t_start · order; every scheduler here
    /// has order 1). Equal to <paramref name="steps"/> when <see cref="InitTimestep"/> is 0: diffusers then has no
    /// timestep to noise to.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">As <see cref="InitTimestep"/>.</exception>
    public static int BeginIndex(int steps, double strength) => Math.Max(steps - InitTimestep(steps, strength), 0);

    /// <summary>
    /// The exclusive end index of the run within <paramref name="timesteps"/>: all of them after
    /// <paramref name="beginIndex"/>, or, with <paramref name="denoisingEnd"/> in (0, 1), only the leading ones at or
    /// above its cutoff (none when the first is already below it).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="beginIndex"/> is outside the schedule.</exception>
    public static int EndIndex(IReadOnlyList<double> timesteps, int beginIndex, double? denoisingEnd, int numTrainTimesteps = 1000)
    {
        ArgumentNullException.ThrowIfNull(timesteps);
        ArgumentOutOfRangeException.ThrowIfNegative(beginIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(beginIndex, timesteps.Count);
        if (denoisingEnd is not { } end || !(end > 0 && end < 1))
        {
            // diffusers ignores a denoising_end outside (0, 1).
            return timesteps.Count;
        }
        var cutoff = DenoisingSplit.Cutoff(end, numTrainTimesteps);
        var count = 0;
        for (var i = beginIndex; i < timesteps.Count; i++)
        {
            if (timesteps[i] >= cutoff)
            {
                count++;
            }
        }
        return beginIndex + count;
    }
}
