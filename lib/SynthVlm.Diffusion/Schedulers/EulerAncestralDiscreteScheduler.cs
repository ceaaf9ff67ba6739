using System.Buffers;

namespace SynthVlm.Diffusion.Schedulers;

/// <summary>
/// diffusers' <c>EulerAncestralDiscreteScheduler</c>: an Euler step to σ_down followed by fresh noise of scale
/// σ_up, with σ_up = √(σ_next²(σ² − σ_next²)/σ²) and σ_down = √(σ_next² − σ_up²). Noise is drawn on every step
/// (the last one too, scaled by 0), so a run consumes <c>steps × sample length</c> values. Like diffusers' class it
/// has no Karras option and always ends at σ = 0; ε and v prediction are supported.
/// </summary>
internal sealed class EulerAncestralDiscreteScheduler : SchedulerBase
{
    public EulerAncestralDiscreteScheduler(SchedulerConfig config) : base(config)
    {
        config.OneOf(SchedulerConfig.Keys.PredictionType, config.PredictionType, "epsilon", "v_prediction");
    }

    public override string Name => SchedulerNames.EulerAncestralDiscrete;

    public override double InitNoiseSigma => EulerSchedule.InitNoiseSigma(Config, MaxSigma());

    public override IDiffusionScheduler Clone() => new EulerAncestralDiscreteScheduler(Config);

    protected override (double[] Timesteps, double[] Sigmas) BuildSchedule(int steps)
    {
        var timesteps = EulerSchedule.Timesteps(Config, steps);
        var sigmas = new double[timesteps.Length];
        for (int i = 0; i < timesteps.Length; i++)
        {
            sigmas[i] = ScheduleMath.Interp(timesteps[i], Training.Sigmas);
        }

        return (timesteps, EulerSchedule.AppendAndRound(sigmas, 0.0));
    }

    protected override void ScaleModelInputCore(ReadOnlySpan<float> sample, Span<float> destination, float sigma) =>
        Float32Kernels.Divide(sample, EulerSchedule.InputDivisor(sigma), destination);

    protected override void StepCore(ReadOnlySpan<float> modelOutput, Span<float> sample, IGaussianNoise? noise, int index)
    {
        var source = RequireNoise(noise, Name);
        float sigma = SigmaAt(index);
        float sigmaTo = SigmaAt(index + 1);
        float sigmaFrom2 = sigma * sigma;
        float sigmaTo2 = sigmaTo * sigmaTo;
        float sigmaUp = MathF.Sqrt(sigmaTo2 * (sigmaFrom2 - sigmaTo2) / sigmaFrom2);
        float sigmaDown = MathF.Sqrt(sigmaTo2 - (sigmaUp * sigmaUp));
        float dt = sigmaDown - sigma;

        float[] rented = ArrayPool<float>.Shared.Rent(sample.Length * 2);
        try
        {
            var buffer = rented.AsSpan(0, sample.Length);
            var fresh = rented.AsSpan(sample.Length, sample.Length);
            EulerSchedule.PredictOriginal(Config.PredictionType, sample, modelOutput, sigma, buffer);
            EulerSchedule.Derivative(sample, buffer, sigma);
            Float32Kernels.AddScaled(sample, dt, buffer);
            source.Fill(fresh);
            Float32Kernels.AddScaled(sample, sigmaUp, fresh);
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
