namespace SynthVlm.Diffusion.Schedulers;

/// <summary>
/// The training noise schedule (β, ᾱ, σ per training timestep) rounded the way diffusers computes it: torch
/// float32 βs, float32 α = 1 − β, a cumulative product accumulated in double and stored as float32 (torch's CPU
/// cumprod), and σ = √((1 − ᾱ)/ᾱ) in float32. Values are held as doubles. The only remaining difference from
/// torch is its vectorised linspace, which differs from numpy's by at most one float ulp on some βs; that keeps
/// σ within 4e-7 relative of diffusers (plain float64 would be 1.3e-5 off for SDXL).
/// </summary>
internal sealed class TrainingSchedule
{
    private TrainingSchedule(double[] alphasCumprod, double[] sigmas, double[] logSigmas)
    {
        AlphasCumprod = alphasCumprod;
        Sigmas = sigmas;
        LogSigmas = logSigmas;
    }

    /// <summary>ᾱ_t for t = 0 … N−1 (float32 values).</summary>
    public double[] AlphasCumprod { get; }

    /// <summary>σ_t for t = 0 … N−1, increasing (float32 values).</summary>
    public double[] Sigmas { get; }

    /// <summary>log σ_t rounded to float32, as numpy computes <c>np.log</c> of the float32 σ array.</summary>
    public double[] LogSigmas { get; }

    public int Count => Sigmas.Length;

    public static TrainingSchedule Create(SchedulerConfig config)
    {
        int n = config.NumTrainTimesteps;
        var betas = new float[n];
        if (config.TrainedBetas is { } trained)
        {
            for (int i = 0; i < n; i++)
            {
                betas[i] = (float)trained[i];
            }
        }
        else
        {
            switch (config.BetaSchedule)
            {
                case "linear":
                    var linear = ScheduleMath.Linspace(config.BetaStart, config.BetaEnd, n);
                    for (int i = 0; i < n; i++)
                    {
                        betas[i] = (float)linear[i];
                    }

                    break;
                case "scaled_linear":
                    var roots = ScheduleMath.Linspace(Math.Sqrt(config.BetaStart), Math.Sqrt(config.BetaEnd), n);
                    for (int i = 0; i < n; i++)
                    {
                        float r = (float)roots[i];
                        betas[i] = r * r;
                    }

                    break;
                default: // squaredcos_cap_v2 (validated): Glide's cosine ᾱ(t), β capped at 0.999.
                    for (int i = 0; i < n; i++)
                    {
                        double t1 = (double)i / n;
                        double t2 = (double)(i + 1) / n;
                        betas[i] = (float)Math.Min(1 - (CosineAlphaBar(t2) / CosineAlphaBar(t1)), 0.999);
                    }

                    break;
            }
        }

        var alphasCumprod = new double[n];
        var sigmas = new double[n];
        var logSigmas = new double[n];
        double product = 1.0;
        for (int i = 0; i < n; i++)
        {
            float alpha = 1f - betas[i];
            product *= alpha;
            float cumprod = (float)product;
            float sigma = MathF.Sqrt((1f - cumprod) / cumprod);
            alphasCumprod[i] = cumprod;
            sigmas[i] = sigma;
            logSigmas[i] = MathF.Log(sigma);
        }

        return new TrainingSchedule(alphasCumprod, sigmas, logSigmas);
    }

    /// <summary>
    /// diffusers' DPM-Solver <c>last_timestep</c>: N minus the number of training steps whose
    /// λ(t) = log α_t − log σ_t (float32) lies below <paramref name="lambdaMinClipped"/>.
    /// </summary>
    public int LastTimestep(double lambdaMinClipped)
    {
        if (double.IsNegativeInfinity(lambdaMinClipped))
        {
            return Count;
        }

        // λ decreases with t; torch.searchsorted on the flipped (increasing) λ counts values below the bound.
        int below = 0;
        for (int t = 0; t < Count; t++)
        {
            float cumprod = (float)AlphasCumprod[t];
            float lambda = MathF.Log(MathF.Sqrt(cumprod)) - MathF.Log(MathF.Sqrt(1f - cumprod));
            if (lambda < lambdaMinClipped)
            {
                below++;
            }
        }

        return Count - below;
    }

    private static double CosineAlphaBar(double t)
    {
        double c = Math.Cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }
}
