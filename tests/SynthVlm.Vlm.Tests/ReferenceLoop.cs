using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Training;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Tests;

/// <summary>
/// The loop the fixture scripts' PyTorch training runs (make_training_reference.py,
/// make_lora_training_reference.py): micro-batches cycling through the samples, each loss divided
/// by the accumulation steps, clipping, one AdamW step at the schedule's rate, zero_grad.
/// </summary>
internal static class ReferenceLoop
{
    public static (List<double> Losses, List<double> Norms) Run(
        LlavaModel model, MasterWeightAdamW optimizer, LearningRateSchedule schedule,
        IReadOnlyList<(LlavaSequence Sequence, int? Image)> samples, Tensor pixels,
        int steps, int micro, int accumulation, double maxGradNorm)
    {
        var losses = new List<double>();
        var norms = new List<double>();
        var cursor = 0;
        for (var step = 0; step < steps; step++)
        {
            var stepLoss = 0.0;
            for (var m = 0; m < accumulation; m++)
            {
                using var scope = NewDisposeScope();
                var batch = Enumerable.Range(0, micro).Select(i => samples[(cursor + i) % samples.Count]).ToList();
                cursor += micro;
                var images = batch.Where(b => b.Image is not null).Select(b => pixels[b.Image!.Value]).ToList();
                using var imageBatch = images.Count > 0 ? stack(images) : null;
                using var output = model.Forward([.. batch.Select(b => b.Sequence)], imageBatch);
                output.Loss!.div(accumulation).backward();
                stepLoss += output.Loss.item<float>() / accumulation;
            }
            norms.Add(optimizer.ClipGradientNorm(maxGradNorm));
            optimizer.Step(schedule.At(step));
            optimizer.ZeroGrad();
            losses.Add(stepLoss);
        }
        return (losses, norms);
    }
}
