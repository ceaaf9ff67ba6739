using System.Text.Json;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Tests;

/// <summary>
/// Stage-1 training (projector only) against Fixtures/make_training_reference.py: the same tiny
/// model, data order, gradient accumulation, clipping, AdamW and cosine warm-up schedule.
/// </summary>
public sealed class TrainingParityTests
{
    private static readonly JsonElement Reference =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Scripts.Fixtures, "training_reference.json"))).RootElement;

    [Fact]
    public void The_schedule_is_transformers_cosine_with_warmup()
    {
        var steps = Reference.GetProperty("steps").GetInt32();
        var schedule = LearningRateSchedule.CosineWithWarmupRatio(Reference.GetProperty("lr").GetDouble(), steps, Reference.GetProperty("warmup_ratio").GetDouble());
        var expected = Reference.GetProperty("learning_rates").EnumerateArray().Select(e => e.GetDouble()).ToArray();

        schedule.WarmupSteps.Should().Be(1);
        Enumerable.Range(0, steps).Select(schedule.At).Should().Equal(expected, (a, e) => Math.Abs(a - e) < 1e-15);
    }

    [Fact]
    public void Ten_stage1_steps_give_PyTorchs_losses_and_projector_within_1e4()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var pixels = LlavaParityTests.Pixels();
        var projector = model.named_parameters().Where(p => p.name.StartsWith("multi_modal_projector.", StringComparison.Ordinal)).ToList();
        foreach (var (name, parameter) in model.named_parameters())
        {
            parameter.requires_grad = name.StartsWith("multi_modal_projector.", StringComparison.Ordinal);
        }
        var samples = Reference.GetProperty("samples").EnumerateArray().Select(s => (
            Sequence: new LlavaSequence(
                s.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                s.GetProperty("labels").EnumerateArray().Select(e => e.GetInt32()).ToArray()),
            Image: s.GetProperty("image").ValueKind == JsonValueKind.Null ? (int?)null : s.GetProperty("image").GetInt32())).ToList();
        var steps = Reference.GetProperty("steps").GetInt32();
        var micro = Reference.GetProperty("micro_batch").GetInt32();
        var accumulation = Reference.GetProperty("accumulation").GetInt32();
        var schedule = LearningRateSchedule.CosineWithWarmupRatio(Reference.GetProperty("lr").GetDouble(), steps, Reference.GetProperty("warmup_ratio").GetDouble());
        using var optimizer = new MasterWeightAdamW([new ParameterGroup("projector", [.. projector.Select(p => (Tensor)p.parameter)])]);

        var (losses, norms) = ReferenceLoop.Run(model, optimizer, schedule, samples, pixels, steps, micro, accumulation, Reference.GetProperty("max_grad_norm").GetDouble());

        losses.Should().Equal(Reference.GetProperty("losses").EnumerateArray().Select(e => e.GetDouble()), (a, e) => Math.Abs(a - e) < 1e-4);
        norms.Should().Equal(Reference.GetProperty("grad_norms").EnumerateArray().Select(e => e.GetDouble()), (a, e) => Math.Abs(a - e) < 1e-4 * Math.Max(1, e));
        losses[^1].Should().BeLessThan(losses[0], "ten steps of the projector lower the loss");
        foreach (var (name, parameter) in projector)
        {
            var expected = Reference.GetProperty("trained").GetProperty(name);
            using var flat = parameter.detach().flatten().to_type(ScalarType.Float64);
            var values = flat.data<double>().ToArray();
            values.Take(8).Should().Equal(expected.GetProperty("head").EnumerateArray().Select(e => e.GetDouble()), (a, e) => Math.Abs(a - e) < 1e-4, name);
            values.Sum().Should().BeApproximately(expected.GetProperty("sum").GetDouble(), 1e-4 * Math.Max(1, Math.Abs(expected.GetProperty("sum").GetDouble())), name);
            Math.Sqrt(values.Sum(v => v * v)).Should().BeApproximately(expected.GetProperty("norm").GetDouble(), 1e-4, name);
        }
    }
}
