namespace SynthVlm.Diffusion.Schedulers;

/// <summary>State and argument checks shared by the schedulers: schedule arrays, step position, begin index.</summary>
internal abstract class SchedulerBase : IDiffusionScheduler
{
    private double[] _timesteps = [];
    private double[] _sigmas = [];
    private bool _stepped;

    protected SchedulerBase(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.ValidateCommon();
        Config = config;
        Training = TrainingSchedule.Create(config);
    }

    public abstract string Name { get; }

    public SchedulerConfig Config { get; }

    protected TrainingSchedule Training { get; }

    public IReadOnlyList<double> Timesteps => _timesteps;

    public IReadOnlyList<double> Sigmas => _sigmas;

    public abstract double InitNoiseSigma { get; }

    public int StepIndex { get; private set; }

    public void SetTimesteps(int steps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(steps, Config.NumTrainTimesteps);
        (_timesteps, _sigmas) = BuildSchedule(steps);
        StepIndex = 0;
        _stepped = false;
        ResetHistory();
    }

    public void SetBeginIndex(int index)
    {
        if (_timesteps.Length == 0)
        {
            throw new InvalidOperationException($"{Name}: call SetTimesteps before SetBeginIndex.");
        }

        if (_stepped)
        {
            throw new InvalidOperationException($"{Name}: SetBeginIndex must come before the first Step (step index is {StepIndex}).");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _timesteps.Length);
        StepIndex = index;
    }

    public void ScaleModelInput(ReadOnlySpan<float> sample, Span<float> destination)
    {
        EnsureStepAvailable();
        SameLength(sample.Length, destination.Length, nameof(destination));
        ScaleModelInputCore(sample, destination, (float)_sigmas[StepIndex]);
    }

    public void Step(ReadOnlySpan<float> modelOutput, Span<float> sample, IGaussianNoise? noise = null)
    {
        EnsureStepAvailable();
        SameLength(sample.Length, modelOutput.Length, nameof(modelOutput));
        StepCore(modelOutput, sample, noise, StepIndex);
        StepIndex++;
        _stepped = true;
    }

    public void AddNoise(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, Span<float> destination)
    {
        EnsureStepAvailable();
        SameLength(original.Length, noise.Length, nameof(noise));
        SameLength(original.Length, destination.Length, nameof(destination));
        AddNoiseCore(original, noise, destination, (float)_sigmas[StepIndex]);
    }

    public abstract IDiffusionScheduler Clone();

    /// <summary>Timesteps (n) and σ (n + 1) for <paramref name="steps"/> inference steps.</summary>
    protected abstract (double[] Timesteps, double[] Sigmas) BuildSchedule(int steps);

    protected abstract void ScaleModelInputCore(ReadOnlySpan<float> sample, Span<float> destination, float sigma);

    protected abstract void StepCore(ReadOnlySpan<float> modelOutput, Span<float> sample, IGaussianNoise? noise, int index);

    protected abstract void AddNoiseCore(ReadOnlySpan<float> original, ReadOnlySpan<float> noise, Span<float> destination, float sigma);

    /// <summary>Forgets multistep history (DPM-Solver's previous predictions).</summary>
    protected virtual void ResetHistory()
    {
    }

    /// <summary>Largest σ of the schedule rounded to float32 (diffusers takes <c>sigmas.max()</c> of a float32 tensor).</summary>
    protected float MaxSigma()
    {
        float max = 0f;
        foreach (double s in _sigmas)
        {
            max = Math.Max(max, (float)s);
        }

        return max;
    }

    protected float SigmaAt(int index) => (float)_sigmas[index];

    protected static IGaussianNoise RequireNoise(IGaussianNoise? noise, string scheduler) =>
        noise ?? throw new ArgumentNullException(nameof(noise), $"{scheduler} draws fresh Gaussian noise every step; pass an IGaussianNoise (e.g. SeededGaussianNoise).");

    private void EnsureStepAvailable()
    {
        if (_timesteps.Length == 0)
        {
            throw new InvalidOperationException($"{Name}: call SetTimesteps before stepping.");
        }

        if (StepIndex >= _timesteps.Length)
        {
            throw new InvalidOperationException($"{Name}: all {_timesteps.Length} steps have been taken; call SetTimesteps to start again.");
        }
    }

    private static void SameLength(int expected, int actual, string name)
    {
        if (expected != actual)
        {
            throw new ArgumentException($"{name} has {actual} elements; the sample has {expected}.", name);
        }
    }
}
