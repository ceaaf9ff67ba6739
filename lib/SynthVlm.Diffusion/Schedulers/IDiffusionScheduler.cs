namespace SynthVlm.Diffusion.Schedulers;

/// <summary>
/// A diffusers-compatible sampling scheduler over flat float32 latents (any layout; the formulas are elementwise).
/// Call <see cref="SetTimesteps"/>, optionally <see cref="SetBeginIndex"/>, then per step
/// <see cref="ScaleModelInput"/> → model → <see cref="Step"/>. Instances hold per-run state and are not
/// thread-safe; use <see cref="Clone"/> for concurrent pipelines.
/// </summary>
public interface IDiffusionScheduler
{
    /// <summary>The diffusers class this scheduler reproduces, e.g. <c>EulerDiscreteScheduler</c>.</summary>
    string Name { get; }

    /// <summary>The configuration it was built from.</summary>
    SchedulerConfig Config { get; }

    /// <summary>
    /// Builds the inference schedule for <paramref name="steps"/> steps and resets the step position to 0 and any
    /// multistep history. diffusers' <c>trailing</c> spacing yields one extra timestep for some counts (61, 103, …);
    /// that is reproduced, so loop over <see cref="Timesteps"/>, not <paramref name="steps"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="steps"/> is below 1 or above num_train_timesteps.</exception>
    void SetTimesteps(int steps);

    /// <summary>The timesteps the denoising model receives, one per step (empty before <see cref="SetTimesteps"/>).</summary>
    IReadOnlyList<double> Timesteps { get; }

    /// <summary>The noise levels σ, <c>Timesteps.Count + 1</c> values ending in 0 (or σ_min with <c>final_sigmas_type=sigma_min</c>).</summary>
    IReadOnlyList<double> Sigmas { get; }

    /// <summary>Scale of the initial noise: latents = N(0, 1) · InitNoiseSigma.</summary>
    double InitNoiseSigma { get; }

    /// <summary>The index into <see cref="Timesteps"/> that the next <see cref="ScaleModelInput"/> / <see cref="Step"/> uses.</summary>
    int StepIndex { get; }

    /// <summary>
    /// Starts the run at <paramref name="index"/> instead of 0 (a refiner continuing a base run); call after
    /// <see cref="SetTimesteps"/> and before the first step.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is not a valid timestep index.</exception>
    /// <exception cref="InvalidOperationException">No schedule yet, or a step was already taken.</exception>
    void SetBeginIndex(int index);

    /// <summary>Writes the model input for the current step (Euler: <c>x / √(σ²+1)</c>; DPM-Solver: unchanged).</summary>
    void ScaleModelInput(ReadOnlySpan<float> sample, Span<float> destination);

    /// <summary>
    /// Advances <paramref name="sample"/> in place from the current timestep to the next using the model's
    /// prediction, then advances <see cref="StepIndex"/>. Arithmetic is float32 in the order diffusers uses.
    /// </summary>
    /// <param name="modelOutput">The model's prediction (ε, v or x₀ per <c>prediction_type</c>), same length as the sample.</param>
    /// <param name="sample">x_t on entry, x_{t-1} on return.</param>
    /// <param name="noise">Fresh noise for stochastic schedulers (Euler ancestral, SDE DPM-Solver); ignored by the others.</param>
    /// <exception cref="ArgumentNullException">A stochastic scheduler got no noise source.</exception>
    /// <exception cref="ArgumentException">Lengths differ.</exception>
    /// <exception cref="InvalidOperationException">No schedule, or every step has been taken.</exception>
    void Step(ReadOnlySpan<float> modelOutput, Span<float> sample, IGaussianNoise? noise = null);

    /// <summary>
    /// Noises <paramref name="original"/> to the level of the current step (img2img without a hand-over, e.g. the
    /// SynthVLM script's refiner call): Euler <c>x + σ·n</c>; DPM-Solver <c>α·x + σ_t·n</c>.
    /// </summary>
    void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, Span<float> destination);

    /// <summary>A scheduler with the same configuration and fresh state (no timesteps set).</summary>
    IDiffusionScheduler Clone();
}
