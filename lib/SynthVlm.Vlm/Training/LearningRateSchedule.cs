namespace SynthVlm.Vlm.Training;

/// <summary>
/// Hugging Face's cosine schedule with linear warm-up (transformers'
/// get_cosine_schedule_with_warmup, half a cycle), as LLaVA's scripts use it
/// (<c>--lr_scheduler_type cosine --warmup_ratio 0.03</c>).
/// </summary>
public sealed record LearningRateSchedule(double PeakLearningRate, int TotalSteps, int WarmupSteps)
{
    /// <summary>
    /// The schedule for <paramref name="totalSteps"/> optimizer steps with warm-up over
    /// ceil(<paramref name="warmupRatio"/> · total) steps (transformers' TrainingArguments.get_warmup_steps).
    /// </summary>
    public static LearningRateSchedule CosineWithWarmupRatio(double peakLearningRate, int totalSteps, double warmupRatio)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(totalSteps);
        if (warmupRatio is < 0 or > 1 || double.IsNaN(warmupRatio))
        {
            throw new ArgumentOutOfRangeException(nameof(warmupRatio), warmupRatio, "warm-up ratio must be in [0, 1].");
        }
        return new LearningRateSchedule(peakLearningRate, totalSteps, (int)Math.Ceiling(totalSteps * warmupRatio));
    }

    /// <summary>
    /// The learning rate for optimizer step <paramref name="step"/> (0-based: the rate the
    /// <paramref name="step"/>-th update uses, as LambdaLR gives it after <paramref name="step"/> scheduler steps).
    /// </summary>
    public double At(int step)
    {
        if (step < WarmupSteps)
        {
            return PeakLearningRate * step / Math.Max(1, WarmupSteps);
        }
        var progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        return PeakLearningRate * Math.Max(0, 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }
}
