using System.Buffers;

namespace SynthVlm.Diffusion.Schedulers;

/// <summary>
/// diffusers' <c>EulerDiscreteScheduler</c> with <c>s_churn = 0</c> (the deterministic Euler SDXL pipelines run):
/// x₀ = x − σ·ε, d = (x − x₀)/σ, x ← x + d·(σ_next − σ). Supports linear interpolation, Karras sigmas
/// (with <c>sigma_min</c>/<c>sigma_max</c>), <c>final_sigmas_type</c>, and ε / v / sample prediction.
/// </summary>
internal sealed class EulerDiscreteScheduler : SchedulerBase
{
    public EulerDiscreteScheduler(SchedulerConfig config) : base(config)
    {
        config.OneOf(SchedulerConfig.Keys.PredictionType, config.PredictionType, "epsilon", "v_prediction", "sample", "original_sample");
        config.OneOf(SchedulerConfig.Keys.InterpolationType, config.InterpolationType, "linear");
        config.OneOf(SchedulerConfig.Keys.TimestepType, config.TimestepType, "discrete");
    }

    public override string Name => SchedulerNames.EulerDiscrete;

    public override double InitNoiseSigma => EulerSchedule.InitNoiseSigma(Config, MaxSigma());

    public override IDiffusionScheduler Clone() => new EulerDiscreteScheduler(Config);

    protected override (double[] Timesteps, double[] Sigmas) BuildSchedule(int steps)
    {
        var timesteps = EulerSchedule.Timesteps(Config, steps);
        var sigmas = new double[timesteps.Length];
        for (int i = 0; i < timesteps.Length; i++)
        {
            sigmas[i] = ScheduleMath.Interp(timesteps[i], Training.Sigmas);
        }

        if (Config.UseKarrasSigmas)
        {
            // diffusers ramps over the requested step count even when trailing spacing produced one more timestep.
            sigmas = ScheduleMath.Karras(Config.SigmaMin ?? sigmas[^1], Config.SigmaMax ?? sigmas[0], steps);
            timesteps = new double[steps];
            for (int i = 0; i < steps; i++)
            {
                timesteps[i] = (float)ScheduleMath.SigmaToT(sigmas[i], Training);
            }
        }

        double last = Config.FinalSigmasType == "sigma_min" ? Training.Sigmas[0] : 0.0;
        return (timesteps, EulerSchedule.AppendAndRound(sigmas, last));
    }

    protected override void ScaleModelInputCore(ReadOnlySpan<float> sample, Span<float> destination, float sigma) =>
        Float32Kernels.Divide(sample, EulerSchedule.InputDivisor(sigma), destination);

    protected override void StepCore(ReadOnlySpan<float> modelOutput, Span<float> sample, IGaussianNoise? noise, int index)
    {
        float sigma = SigmaAt(index);
        float dt = SigmaAt(index + 1) - sigma;
        float[] rented = ArrayPool<float>.Shared.Rent(sample.Length);
        try
        {
            var buffer = rented.AsSpan(0, sample.Length);
            EulerSchedule.PredictOriginal(Config.PredictionType, sample, modelOutput, sigma, buffer);
            EulerSchedule.Derivative(sample, buffer, sigma);
            Float32Kernels.AddScaled(sample, dt, buffer);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    protected override void AddNoiseCore(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, Span<float> destination, float sigma)
    {
        original.CopyTo(destination);
        Float32Kernels.AddScaled(destination, sigma, noise);
    }
}

/// <summary>Schedule and update pieces shared by the Euler and Euler-ancestral schedulers.</summary>
internal static class EulerSchedule
{
    /// <summary>diffusers' Euler timesteps (float32 values) for the configured spacing.</summary>
    public static double[] Timesteps(SchedulerConfig config, int steps)
    {
        int train = config.NumTrainTimesteps;
        double[] timesteps;
        switch (config.TimestepSpacing)
        {
            case "linspace":
                timesteps = ScheduleMath.Linspace(0, train - 1, steps);
                Array.Reverse(timesteps);
                break;
            case "leading":
                int ratio = train / steps;
                timesteps = new double[steps];
                for (int i = 0; i < steps; i++)
                {
                    timesteps[i] = (float)((steps - 1 - i) * ratio) + (float)config.StepsOffset;
                }

                break;
            default: // trailing
                timesteps = ScheduleMath.ArangeDown(train, (double)train / steps);
                for (int i = 0; i < timesteps.Length; i++)
                {
                    timesteps[i] = (float)ScheduleMath.Round(timesteps[i]) - 1f;
                }

                break;
        }

        for (int i = 0; i < timesteps.Length; i++)
        {
            timesteps[i] = (float)timesteps[i];
        }

        return timesteps;
    }

    /// <summary>σ followed by the final value, rounded to float32 as diffusers' <c>.astype(np.float32)</c>.</summary>
    public static double[] AppendAndRound(double[] sigmas, double last)
    {
        var result = new double[sigmas.Length + 1];
        for (int i = 0; i < sigmas.Length; i++)
        {
            result[i] = (float)sigmas[i];
        }

        result[^1] = (float)last;
        return result;
    }

    /// <summary>σ_max for <c>linspace</c>/<c>trailing</c>, else √(σ_max² + 1), in float32.</summary>
    public static double InitNoiseSigma(SchedulerConfig config, float maxSigma) =>
        config.TimestepSpacing is "linspace" or "trailing" ? maxSigma : MathF.Sqrt((maxSigma * maxSigma) + 1f);

    /// <summary>√(σ² + 1) in float32, the model-input divisor.</summary>
    public static float InputDivisor(float sigma) => MathF.Sqrt((sigma * sigma) + 1f);

    /// <summary>x₀ from the model output (ε: x − σε; v: ε·(−σ/√(σ²+1)) + x/(σ²+1); sample: the output).</summary>
    public static void PredictOriginal(string predictionType, ReadOnlySpan<float> sample, ReadOnlySpan<float> modelOutput, float sigma, Span<float> destination)
    {
        switch (predictionType)
        {
            case "epsilon":
                sample.CopyTo(destination);
                Float32Kernels.AddScaled(destination, -sigma, modelOutput);
                break;
            case "v_prediction":
                float variance = (sigma * sigma) + 1f;
                float cOut = -sigma / MathF.Sqrt(variance);
                Float32Kernels.Divide(sample, variance, destination);
                Float32Kernels.AddScaled(destination, cOut, modelOutput);
                break;
            default: // sample / original_sample
                modelOutput.CopyTo(destination);
                break;
        }
    }

    /// <summary>In place: <paramref name="predictionThenDerivative"/> = (x − x₀)/σ.</summary>
    public static void Derivative(ReadOnlySpan<float> sample, Span<float> predictionThenDerivative, float sigma)
    {
        Float32Kernels.Subtract(sample, predictionThenDerivative, predictionThenDerivative);
        Float32Kernels.Divide(predictionThenDerivative, sigma, predictionThenDerivative);
    }
}
