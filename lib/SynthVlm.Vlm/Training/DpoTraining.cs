using static TorchSharp.torch;

namespace SynthVlm.Vlm.Training;

/// <summary>One micro-batch of a DPO step: pairs, their images and, optionally, precomputed reference log-probs.</summary>
/// <param name="Pairs">The pairs.</param>
/// <param name="PixelValues">[N, 3, S, S], one image per pair with an image marker, in order; or null.</param>
/// <param name="Reference">Precomputed reference log-probs (the objective's units), or null to compute them.</param>
public sealed record DpoMicroBatch(IReadOnlyList<DpoPair> Pairs, Tensor? PixelValues, IReadOnlyList<DpoReferenceLogps>? Reference = null);

/// <summary>What one DPO optimizer step did.</summary>
/// <param name="Metrics">TRL's metrics, each the mean over the step's micro-batches (as TRL averages what it logs between two log lines).</param>
/// <param name="GradientNorm">Global gradient norm before clipping (NaN when the update was skipped).</param>
/// <param name="SkippedUpdate">Whether the update was skipped (non-finite loss or gradient); the gradients were dropped.</param>
/// <param name="Positions">Sequence positions the policy ran over (both sides).</param>
/// <param name="Scores">Per-pair scores of every micro-batch, in order (one per pair of the step).</param>
public sealed record DpoStepResult(DpoMetrics Metrics, double GradientNorm, bool SkippedUpdate, long Positions, IReadOnlyList<DpoPairScore> Scores);

/// <summary>
/// A DPO optimizer step on the training path of <see cref="LlavaTrainer"/>: each micro-batch's loss divided by
/// the number of micro-batches and back-propagated (transformers' Trainer under gradient accumulation), then
/// the global norm clipped, one <see cref="MasterWeightAdamW"/> update and the gradients freed. A step whose
/// loss or gradient is not finite is skipped (gradients dropped), as the trainer does.
/// </summary>
public static class DpoTraining
{
    /// <summary>Runs one step over <paramref name="microBatches"/> at <paramref name="learningRate"/>.</summary>
    /// <exception cref="ArgumentException">No micro-batch, or a micro-batch the objective refuses.</exception>
    /// <exception cref="DpoPairException">A pair cannot be scored; no update was made and the gradients were dropped.</exception>
    public static DpoStepResult Step(DpoObjective objective, MasterWeightAdamW optimizer, IReadOnlyList<DpoMicroBatch> microBatches, double learningRate, double maxGradNorm)
    {
        ArgumentNullException.ThrowIfNull(objective);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(microBatches);
        if (microBatches.Count == 0)
        {
            throw new ArgumentException("A DPO step needs at least one micro-batch.", nameof(microBatches));
        }
        var metrics = new List<DpoMetrics>(microBatches.Count);
        var scores = new List<DpoPairScore>();
        long positions = 0;
        try
        {
            foreach (var micro in microBatches)
            {
                ArgumentNullException.ThrowIfNull(micro, nameof(microBatches));
                using var scope = NewDisposeScope();
                using var output = objective.Compute(micro.Pairs, micro.PixelValues, micro.Reference);
                using var scaled = output.Loss.Over(microBatches.Count);
                scaled.backward();
                metrics.Add(output.Metrics);
                scores.AddRange(output.Pairs);
                positions += output.Positions;
            }
        }
        catch
        {
            optimizer.ZeroGrad();
            throw;
        }
        var mean = new DpoMetrics(
            metrics.Average(m => m.Loss), metrics.Average(m => m.RewardsChosen), metrics.Average(m => m.RewardsRejected),
            metrics.Average(m => m.RewardsAccuracies), metrics.Average(m => m.RewardsMargins), metrics.Average(m => m.LogpsChosen),
            metrics.Average(m => m.LogpsRejected), metrics.Average(m => m.LogitsChosen), metrics.Average(m => m.LogitsRejected));
        var skip = !double.IsFinite(mean.Loss) || !optimizer.GradientsAreFinite();
        var norm = double.NaN;
        if (!skip)
        {
            norm = optimizer.ClipGradientNorm(maxGradNorm);
            optimizer.Step(learningRate);
        }
        optimizer.ZeroGrad();
        return new DpoStepResult(mean, norm, skip, positions, scores);
    }
}
