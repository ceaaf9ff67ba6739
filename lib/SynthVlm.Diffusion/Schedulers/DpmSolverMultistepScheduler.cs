using System.Buffers;

namespace SynthVlm.Diffusion.Schedulers;

/// <summary>
/// diffusers' <c>DPMSolverMultistepScheduler</c> for <c>algorithm_type</c> <c>dpmsolver++</c> (and
/// <c>sde-dpmsolver++</c>), orders 1–3, midpoint or Heun second-order terms, Karras sigmas,
/// <c>lower_order_final</c>, <c>euler_at_final</c>, <c>final_sigmas_type</c>, <c>lambda_min_clipped</c>, and ε / v /
/// sample prediction. The model input is not scaled and the initial noise σ is 1 (variance-preserving latents).
/// </summary>
internal sealed class DpmSolverMultistepScheduler : SchedulerBase
{
    private readonly float[]?[] _modelOutputs;
    private int _lowerOrderNums;

    public DpmSolverMultistepScheduler(SchedulerConfig config) : base(config)
    {
        config.OneOf(SchedulerConfig.Keys.PredictionType, config.PredictionType, "epsilon", "v_prediction", "sample");
        config.OneOf(SchedulerConfig.Keys.AlgorithmType, config.AlgorithmType, "dpmsolver++", "sde-dpmsolver++");
        config.OneOf(SchedulerConfig.Keys.SolverType, config.SolverType, "midpoint", "heun");
        if (config.SolverOrder is < 1 or > 3)
        {
            throw config.Bad(SchedulerConfig.Keys.SolverOrder, $"must be 1, 2 or 3, found {config.SolverOrder}");
        }

        config.Unsupported(SchedulerConfig.Keys.UseLuLambdas, config.UseLuLambdas);
        config.Unsupported(SchedulerConfig.Keys.UseFlowSigmas, config.UseFlowSigmas);
        config.Unsupported(SchedulerConfig.Keys.Thresholding, config.Thresholding);
        config.Unsupported(SchedulerConfig.Keys.UseDynamicShifting, config.UseDynamicShifting);
        if (config.VarianceType is not null)
        {
            throw config.Bad(SchedulerConfig.Keys.VarianceType, $"'{config.VarianceType}' is not supported; only null (fixed variance)");
        }

        _modelOutputs = new float[config.SolverOrder][];
    }

    public override string Name => SchedulerNames.DpmSolverMultistep;

    public override double InitNoiseSigma => 1.0;

    private bool Stochastic => Config.AlgorithmType == "sde-dpmsolver++";

    public override IDiffusionScheduler Clone() => new DpmSolverMultistepScheduler(Config);

    protected override (double[] Timesteps, double[] Sigmas) BuildSchedule(int steps)
    {
        int train = Config.NumTrainTimesteps;
        int last = Training.LastTimestep(Config.LambdaMinClipped);
        double[] timesteps;
        switch (Config.TimestepSpacing)
        {
            case "linspace":
                var points = ScheduleMath.Linspace(0, last - 1, steps + 1);
                timesteps = new double[steps];
                for (int i = 0; i < steps; i++)
                {
                    timesteps[i] = ScheduleMath.Round(points[steps - i]);
                }

                break;
            case "leading":
                int ratio = last / (steps + 1);
                timesteps = new double[steps];
                for (int i = 0; i < steps; i++)
                {
                    timesteps[i] = ((steps - i) * ratio) + Config.StepsOffset;
                }

                break;
            default: // trailing
                timesteps = ScheduleMath.ArangeDown(last, (double)train / steps);
                for (int i = 0; i < timesteps.Length; i++)
                {
                    timesteps[i] = ScheduleMath.Round(timesteps[i]) - 1;
                }

                break;
        }

        double[] sigmas;
        if (Config.UseKarrasSigmas)
        {
            // The ramp spans the whole training range (σ(0) … σ(N−1)), unlike Euler's, which spans the chosen timesteps.
            sigmas = ScheduleMath.Karras(Training.Sigmas[0], Training.Sigmas[^1], steps);
            timesteps = new double[steps];
            for (int i = 0; i < steps; i++)
            {
                double t = ScheduleMath.SigmaToT(sigmas[i], Training);
                timesteps[i] = Config.BetaSchedule == "squaredcos_cap_v2" && Config.TrainedBetas is null ? Math.Truncate(t) : ScheduleMath.Round(t);
            }
        }
        else
        {
            sigmas = new double[timesteps.Length];
            for (int i = 0; i < timesteps.Length; i++)
            {
                sigmas[i] = ScheduleMath.Interp(timesteps[i], Training.Sigmas);
            }
        }

        double final = Config.FinalSigmasType == "sigma_min" ? Training.Sigmas[0] : 0.0;
        return (timesteps, EulerSchedule.AppendAndRound(sigmas, final));
    }

    protected override void ResetHistory()
    {
        Array.Clear(_modelOutputs);
        _lowerOrderNums = 0;
    }

    protected override void ScaleModelInputCore(ReadOnlySpan<float> sample, Span<float> destination, float sigma) =>
        sample.CopyTo(destination);

    protected override void AddNoiseCore(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, Span<float> destination, float sigma)
    {
        var (alpha, sigmaT) = AlphaSigma(sigma);
        Float32Kernels.Multiply(original, alpha, destination);
        Float32Kernels.AddScaled(destination, sigmaT, noise);
    }

    protected override void StepCore(ReadOnlySpan<float> modelOutput, Span<float> sample, IGaussianNoise? noise, int index)
    {
        int n = sample.Length;
        int count = Timesteps.Count;
        int order = Config.SolverOrder;
        bool lowerOrderFinal = index == count - 1
            && (Config.EulerAtFinal || (Config.LowerOrderFinal && count < 15) || Config.FinalSigmasType == "zero");
        bool lowerOrderSecond = index == count - 2 && Config.LowerOrderFinal && count < 15;

        for (int i = 1; i < order; i++)
        {
            if (_modelOutputs[i] is { } previous && previous.Length != n)
            {
                throw new ArgumentException($"The sample has {n} elements but an earlier step's had {previous.Length}; call SetTimesteps to start a new run.", nameof(sample));
            }
        }

        // Shift the history; the oldest buffer is reused for the new prediction.
        var recycled = _modelOutputs[0];
        for (int i = 0; i < order - 1; i++)
        {
            _modelOutputs[i] = _modelOutputs[i + 1];
        }

        var x0 = recycled is not null && recycled.Length == n ? recycled : new float[n];
        ConvertModelOutput(modelOutput, sample, SigmaAt(index), x0);
        _modelOutputs[order - 1] = x0;

        float[]? rented = null;
        try
        {
            Span<float> fresh = default;
            if (Stochastic)
            {
                var source = RequireNoise(noise, Name + " (sde-dpmsolver++)");
                rented = ArrayPool<float>.Shared.Rent(n * 3);
                fresh = rented.AsSpan(2 * n, n);
                source.Fill(fresh);
            }

            if (order == 1 || _lowerOrderNums < 1 || lowerOrderFinal)
            {
                FirstOrder(index, sample, x0, fresh);
            }
            else
            {
                rented ??= ArrayPool<float>.Shared.Rent(n * 2);
                var scratch = rented.AsSpan(0, 2 * n);
                if (order == 2 || _lowerOrderNums < 2 || lowerOrderSecond)
                {
                    SecondOrder(index, sample, x0, _modelOutputs[order - 2]!, fresh, scratch);
                }
                else
                {
                    ThirdOrder(index, sample, x0, _modelOutputs[order - 2]!, _modelOutputs[order - 3]!, fresh, scratch);
                }
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<float>.Shared.Return(rented);
            }
        }

        if (_lowerOrderNums < order)
        {
            _lowerOrderNums++;
        }
    }

    /// <summary>α_t = 1/√(σ²+1), σ_t = σ·α_t (float32).</summary>
    private static (float Alpha, float Sigma) AlphaSigma(float sigma)
    {
        float alpha = 1f / MathF.Sqrt((sigma * sigma) + 1f);
        return (alpha, sigma * alpha);
    }

    private static float Lambda(float alpha, float sigma) => MathF.Log(alpha) - MathF.Log(sigma);

    /// <summary>The data prediction x₀ DPM-Solver++ integrates.</summary>
    private void ConvertModelOutput(ReadOnlySpan<float> modelOutput, ReadOnlySpan<float> sample, float sigma, Span<float> x0)
    {
        var (alpha, sigmaT) = AlphaSigma(sigma);
        switch (Config.PredictionType)
        {
            case "epsilon":
                sample.CopyTo(x0);
                Float32Kernels.AddScaled(x0, -sigmaT, modelOutput);
                Float32Kernels.Divide(x0, alpha, x0);
                break;
            case "v_prediction":
                Float32Kernels.Multiply(sample, alpha, x0);
                Float32Kernels.AddScaled(x0, -sigmaT, modelOutput);
                break;
            default: // sample
                modelOutput.CopyTo(x0);
                break;
        }
    }

    private void FirstOrder(int index, Span<float> sample, ReadOnlySpan<float> m0, ReadOnlySpan<float> noise)
    {
        var (alphaT, sigmaT) = AlphaSigma(SigmaAt(index + 1));
        var (alphaS, sigmaS) = AlphaSigma(SigmaAt(index));
        float h = Lambda(alphaT, sigmaT) - Lambda(alphaS, sigmaS);
        if (!Stochastic)
        {
            // x = (σ_t/σ_s)·x − α_t(e^{−h} − 1)·x₀
            Float32Kernels.Multiply(sample, sigmaT / sigmaS, sample);
            Float32Kernels.AddScaled(sample, -(alphaT * (MathF.Exp(-h) - 1f)), m0);
            return;
        }

        float e2 = MathF.Exp(-2f * h);
        Float32Kernels.Multiply(sample, sigmaT / sigmaS * MathF.Exp(-h), sample);
        Float32Kernels.AddScaled(sample, alphaT * (1f - e2), m0);
        Float32Kernels.AddScaled(sample, sigmaT * MathF.Sqrt(1f - e2), noise);
    }

    private void SecondOrder(int index, Span<float> sample, ReadOnlySpan<float> m0, ReadOnlySpan<float> m1, ReadOnlySpan<float> noise, Span<float> scratch)
    {
        var (alphaT, sigmaT) = AlphaSigma(SigmaAt(index + 1));
        var (alphaS0, sigmaS0) = AlphaSigma(SigmaAt(index));
        var (alphaS1, sigmaS1) = AlphaSigma(SigmaAt(index - 1));
        float lambdaT = Lambda(alphaT, sigmaT);
        float lambdaS0 = Lambda(alphaS0, sigmaS0);
        float lambdaS1 = Lambda(alphaS1, sigmaS1);
        float h = lambdaT - lambdaS0;
        float h0 = lambdaS0 - lambdaS1;
        float r0 = h0 / h;

        // D1 = (1/r0)·(m0 − m1)
        var d1 = scratch[..sample.Length];
        Float32Kernels.Subtract(m0, m1, d1);
        Float32Kernels.Multiply(d1, 1f / r0, d1);

        bool midpoint = Config.SolverType == "midpoint";
        if (!Stochastic)
        {
            float c = alphaT * (MathF.Exp(-h) - 1f);
            Float32Kernels.Multiply(sample, sigmaT / sigmaS0, sample);
            Float32Kernels.AddScaled(sample, -c, m0);
            if (midpoint)
            {
                Float32Kernels.AddScaled(sample, -(0.5f * c), d1);
            }
            else
            {
                Float32Kernels.AddScaled(sample, alphaT * (((MathF.Exp(-h) - 1f) / h) + 1f), d1);
            }

            return;
        }

        float e2 = MathF.Exp(-2f * h);
        float cs = alphaT * (1f - e2);
        Float32Kernels.Multiply(sample, sigmaT / sigmaS0 * MathF.Exp(-h), sample);
        Float32Kernels.AddScaled(sample, cs, m0);
        Float32Kernels.AddScaled(sample, midpoint ? 0.5f * cs : alphaT * (((1f - e2) / (-2f * h)) + 1f), d1);
        Float32Kernels.AddScaled(sample, sigmaT * MathF.Sqrt(1f - e2), noise);
    }

    private void ThirdOrder(int index, Span<float> sample, ReadOnlySpan<float> m0, ReadOnlySpan<float> m1, ReadOnlySpan<float> m2, ReadOnlySpan<float> noise, Span<float> scratch)
    {
        var (alphaT, sigmaT) = AlphaSigma(SigmaAt(index + 1));
        var (alphaS0, sigmaS0) = AlphaSigma(SigmaAt(index));
        var (alphaS1, sigmaS1) = AlphaSigma(SigmaAt(index - 1));
        var (alphaS2, sigmaS2) = AlphaSigma(SigmaAt(index - 2));
        float lambdaT = Lambda(alphaT, sigmaT);
        float lambdaS0 = Lambda(alphaS0, sigmaS0);
        float lambdaS1 = Lambda(alphaS1, sigmaS1);
        float lambdaS2 = Lambda(alphaS2, sigmaS2);
        float h = lambdaT - lambdaS0;
        float h0 = lambdaS0 - lambdaS1;
        float h1 = lambdaS1 - lambdaS2;
        float r0 = h0 / h;
        float r1 = h1 / h;

        int n = sample.Length;
        var d1 = scratch[..n];
        var diff = scratch.Slice(n, n);

        // D1_0 = (1/r0)(m0 − m1) in d1; D1_1 = (1/r1)(m1 − m2) in diff; then diff = D1_0 − D1_1.
        Float32Kernels.Subtract(m0, m1, d1);
        Float32Kernels.Multiply(d1, 1f / r0, d1);
        Float32Kernels.Subtract(m1, m2, diff);
        Float32Kernels.Multiply(diff, 1f / r1, diff);
        Float32Kernels.Subtract(d1, diff, diff);

        // D1 = D1_0 + (r0/(r0+r1))·diff; D2 = (1/(r0+r1))·diff (in place, after D1 used diff).
        Float32Kernels.AddScaled(d1, r0 / (r0 + r1), diff);
        Float32Kernels.Multiply(diff, 1f / (r0 + r1), diff);

        if (!Stochastic)
        {
            float em1 = MathF.Exp(-h) - 1f;
            Float32Kernels.Multiply(sample, sigmaT / sigmaS0, sample);
            Float32Kernels.AddScaled(sample, -(alphaT * em1), m0);
            Float32Kernels.AddScaled(sample, alphaT * ((em1 / h) + 1f), d1);
            Float32Kernels.AddScaled(sample, -(alphaT * ((((MathF.Exp(-h) - 1f) + h) / (h * h)) - 0.5f)), diff);
            return;
        }

        float e2 = MathF.Exp(-2f * h);
        float twoH = 2f * h;
        Float32Kernels.Multiply(sample, sigmaT / sigmaS0 * MathF.Exp(-h), sample);
        Float32Kernels.AddScaled(sample, alphaT * (1f - e2), m0);
        Float32Kernels.AddScaled(sample, alphaT * (((1f - e2) / (-2f * h)) + 1f), d1);
        Float32Kernels.AddScaled(sample, alphaT * ((((1f - e2) - twoH) / (twoH * twoH)) - 0.5f), diff);
        Float32Kernels.AddScaled(sample, sigmaT * MathF.Sqrt(1f - e2), noise);
    }
}
