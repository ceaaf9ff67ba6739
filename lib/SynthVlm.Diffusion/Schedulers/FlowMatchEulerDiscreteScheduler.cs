namespace SynthVlm.Diffusion.Schedulers;

/// <summary>
/// diffusers' <c>FlowMatchEulerDiscreteScheduler</c> as Stable Diffusion 3 runs it (deterministic, static shift):
/// the model predicts the velocity v = ε − x₀ of the straight path x_σ = (1 − σ)·x₀ + σ·ε, and one step is
/// x ← x + (σ_next − σ)·v. The model receives t = σ·1000 unscaled; the initial noise is N(0, 1) (σ_max = 1).
/// </summary>
/// <remarks>
/// <para>Schedule, reproduced with diffusers' roundings: the constructor builds the training σ table
/// s_k = k/N (k = N … 1, float32) and shifts it, σ' = shift·s / (1 + (shift − 1)·s) in float32; σ_max and σ_min
/// are its first and last values. <see cref="IDiffusionScheduler.SetTimesteps"/> takes a float64
/// <c>np.linspace(σ_max·N, σ_min·N, steps)</c>, divides by N, and applies the shift formula <b>a second time</b>
/// (float64), then rounds to float32; timesteps are those float32 σ times N (float32), and a final σ = 0 is
/// appended. The double shift is diffusers' own behaviour (the end points were already shifted when the
/// constructor made them): with SD3's shift 3 the last non-zero σ is ≈ 0.00892, not 0.00299. It is kept because
/// SD3 pipelines are tuned against it.</para>
/// <para>Not supported (rejected by name): <c>use_dynamic_shifting</c> (resolution-dependent μ, Flux),
/// <c>shift_terminal</c>, <c>invert_sigmas</c>, <c>stochastic_sampling</c>, Karras/exponential/beta sigmas,
/// per-token timesteps, custom sigma or timestep lists. <c>prediction_type</c> and the β keys are ignored, as in
/// diffusers.</para>
/// <para><see cref="IDiffusionScheduler.AddNoise"/> is diffusers' <c>scale_noise</c> (img2img):
/// σ·n + (1 − σ)·x at the current step's σ.</para>
/// </remarks>
internal sealed class FlowMatchEulerDiscreteScheduler : SchedulerBase
{
    private readonly float _trainSigmaMax;
    private readonly float _trainSigmaMin;

    public FlowMatchEulerDiscreteScheduler(SchedulerConfig config) : base(config)
    {
        if (!(config.Shift > 0 && double.IsFinite(config.Shift)))
        {
            throw config.Bad(SchedulerConfig.Keys.Shift, $"must be positive and finite, found {SchedulerConfig.Format(config.Shift)}");
        }

        config.Unsupported(SchedulerConfig.Keys.UseDynamicShifting, config.UseDynamicShifting);
        config.Unsupported(SchedulerConfig.Keys.InvertSigmas, config.InvertSigmas);
        config.Unsupported(SchedulerConfig.Keys.StochasticSampling, config.StochasticSampling);
        config.Unsupported(SchedulerConfig.Keys.UseKarrasSigmas, config.UseKarrasSigmas);
        if (config.ShiftTerminal is { } terminal && terminal != 0)
        {
            throw config.Bad(SchedulerConfig.Keys.ShiftTerminal, $"is not supported by this implementation (only null), found {SchedulerConfig.Format(terminal)}");
        }

        int n = config.NumTrainTimesteps;

        // The constructor's table runs from k = N (s = 1) down to k = 1 (s = 1/N); only its ends are used later.
        _trainSigmaMax = ShiftFloat32(config.Shift, (float)n / n);
        _trainSigmaMin = ShiftFloat32(config.Shift, 1f / n);
    }

    public override string Name => SchedulerNames.FlowMatchEulerDiscrete;

    /// <summary>1: SD3 pipelines draw the initial latents from N(0, 1) without scaling.</summary>
    public override double InitNoiseSigma => 1.0;

    public override IDiffusionScheduler Clone() => new FlowMatchEulerDiscreteScheduler(Config);

    /// <summary>The float32 σ that a float32 <paramref name="sigma"/> becomes under the static shift, as torch computes it.</summary>
    internal static float ShiftFloat32(double shift, float sigma)
    {
        float s = (float)shift;
        float sMinusOne = (float)(shift - 1);
        return s * sigma / (1f + (sMinusOne * sigma));
    }

    protected override (double[] Timesteps, double[] Sigmas) BuildSchedule(int steps)
    {
        int n = Config.NumTrainTimesteps;
        double shift = Config.Shift;
        var t = ScheduleMath.Linspace((double)_trainSigmaMax * n, (double)_trainSigmaMin * n, steps);
        var timesteps = new double[steps];
        var sigmas = new double[steps + 1];
        for (int i = 0; i < steps; i++)
        {
            double s = t[i] / n;
            float sigma = (float)(shift * s / (1 + ((shift - 1) * s)));
            sigmas[i] = sigma;
            timesteps[i] = sigma * (float)n;
        }

        sigmas[steps] = 0.0;
        return (timesteps, sigmas);
    }

    protected override void ScaleModelInputCore(ReadOnlySpan<float> sample, Span<float> destination, float sigma) =>
        sample.CopyTo(destination);

    protected override void StepCore(ReadOnlySpan<float> modelOutput, Span<float> sample, IGaussianNoise? noise, int index)
    {
        float dt = SigmaAt(index + 1) - SigmaAt(index);
        Float32Kernels.AddScaled(sample, dt, modelOutput);
    }

    protected override void AddNoiseCore(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, Span<float> destination, float sigma)
    {
        float keep = 1f - sigma;
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = (sigma * noise[i]) + (keep * original[i]);
        }
    }
}
