using System.Text.Json;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Tests;

/// <summary>
/// LoRA stage 2 (LoRA on the language model + the projector, LLaVA's finetune_lora.sh recipe)
/// against Fixtures/make_lora_training_reference.py: the PEFT folder it wrote loaded with
/// <see cref="LlavaLora.Load"/>, the same data order, gradient accumulation, clipping, two AdamW
/// groups and cosine warm-up — with gradient checkpointing on, so the recomputed backward is
/// checked against PyTorch's plain one.
/// </summary>
public sealed class LoraTrainingParityTests(ITestOutputHelper log)
{
    private const string ProjectorPrefix = "multi_modal_projector.";
    private const string PeftPrefix = "base_model.model.";

    private static readonly JsonElement Reference =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Scripts.Fixtures, "lora_training_reference.json"))).RootElement;

    [Fact]
    public void The_PEFT_folder_of_the_script_loads_with_Bs_zero_and_PEFTs_bound_on_A()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var lora = LlavaLora.Load(model, Path.Combine(Scripts.Fixtures, Reference.GetProperty("adapter").GetString()!));

        lora.Rank.Should().Be(Reference.GetProperty("rank").GetInt32());
        lora.Alpha.Should().Be(Reference.GetProperty("alpha").GetDouble());
        lora.Adapters.Should().HaveCount(2 * 7);
        foreach (var (path, adapter) in lora.Adapters)
        {
            adapter.B.abs().max().item<float>().Should().Be(0, path);
            var bound = 1 / Math.Sqrt(adapter.A.shape[1]);
            adapter.A.abs().max().item<float>().Should().BeLessThanOrEqualTo((float)bound, path);
            adapter.A.abs().max().item<float>().Should().BeGreaterThan((float)(bound / 2), path);
        }
    }

    [Fact]
    public void Ten_LoRA_stage2_steps_with_checkpointing_give_PyTorchs_losses_and_trained_tensors_within_1e4()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var pixels = LlavaParityTests.Pixels();
        using var lora = LlavaLora.Load(model, Path.Combine(Scripts.Fixtures, Reference.GetProperty("adapter").GetString()!));
        model.GradientCheckpointing = true;
        var projector = model.named_parameters().Where(p => p.name.StartsWith(ProjectorPrefix, StringComparison.Ordinal)).ToList();
        foreach (var (name, parameter) in model.named_parameters())
        {
            parameter.requires_grad = name.StartsWith(ProjectorPrefix, StringComparison.Ordinal);
        }
        var samples = Reference.GetProperty("samples").EnumerateArray().Select(s => (
            Sequence: new LlavaSequence(
                s.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                s.GetProperty("labels").EnumerateArray().Select(e => e.GetInt32()).ToArray()),
            Image: s.GetProperty("image").ValueKind == JsonValueKind.Null ? (int?)null : s.GetProperty("image").GetInt32())).ToList();
        var steps = Reference.GetProperty("steps").GetInt32();
        var micro = Reference.GetProperty("micro_batch").GetInt32();
        var accumulation = Reference.GetProperty("accumulation").GetInt32();
        var lr = Reference.GetProperty("lr").GetDouble();
        var schedule = LearningRateSchedule.CosineWithWarmupRatio(lr, steps, Reference.GetProperty("warmup_ratio").GetDouble());
        using var optimizer = new MasterWeightAdamW(
        [
            new ParameterGroup("lora", [.. lora.Parameters()]),
            new ParameterGroup("projector", [.. projector.Select(p => (Tensor)p.parameter)], Reference.GetProperty("projector_lr").GetDouble() / lr),
        ]);
        optimizer.Groups[1].LearningRateScale.Should().BeApproximately(0.1, 1e-12, "LLaVA's mm_projector_lr 2e-5 of lr 2e-4");

        var (losses, norms) = ReferenceLoop.Run(model, optimizer, schedule, samples, pixels, steps, micro, accumulation, Reference.GetProperty("max_grad_norm").GetDouble());

        var expectedLosses = Reference.GetProperty("losses").EnumerateArray().Select(e => e.GetDouble()).ToList();
        log.WriteLine($"worst loss difference {losses.Zip(expectedLosses, (a, e) => Math.Abs(a - e)).Max():E2}; losses {string.Join(", ", losses.Select(l => l.ToString("F5", System.Globalization.CultureInfo.InvariantCulture)))}");
        losses.Should().Equal(Reference.GetProperty("losses").EnumerateArray().Select(e => e.GetDouble()), (a, e) => Math.Abs(a - e) < 1e-4);
        norms.Should().Equal(Reference.GetProperty("grad_norms").EnumerateArray().Select(e => e.GetDouble()), (a, e) => Math.Abs(a - e) < 1e-4 * Math.Max(1, e));
        // Steps 0, 3, 6 and 9 see the same four samples (six samples, four a step).
        losses[9].Should().BeLessThan(losses[0], "ten steps of LoRA and the projector lower the loss on the same batch");

        var trained = lora.Adapters
            .SelectMany(a => new[] { (PeftPrefix + a.Key + ".lora_A.weight", (Tensor)a.Value.A), (PeftPrefix + a.Key + ".lora_B.weight", (Tensor)a.Value.B) })
            .Concat(projector.Select(p => (p.name, (Tensor)p.parameter)))
            .ToList();
        var expectedTensors = Reference.GetProperty("trained");
        trained.Select(t => t.Item1).Should().BeEquivalentTo(expectedTensors.EnumerateObject().Select(p => p.Name));
        var worstHead = 0.0;
        foreach (var (name, parameter) in trained)
        {
            var expected = expectedTensors.GetProperty(name);
            worstHead = Math.Max(worstHead, LlavaParityTests.MaxAbsDifference(
                Head(parameter), expected.GetProperty("head").EnumerateArray().Select(e => e.GetDouble()).ToArray()));
            using var flat = parameter.detach().flatten().to_type(ScalarType.Float64);
            var values = flat.data<double>().ToArray();
            var dot = values.Select((v, i) => v * Math.Sin((i * 0.7) + 0.3)).Sum();
            values.Take(8).Should().Equal(expected.GetProperty("head").EnumerateArray().Select(e => e.GetDouble()), (a, e) => Math.Abs(a - e) < 1e-4, name);
            values.Sum().Should().BeApproximately(expected.GetProperty("sum").GetDouble(), 1e-4 * Math.Max(1, Math.Abs(expected.GetProperty("sum").GetDouble())), name);
            Math.Sqrt(values.Sum(v => v * v)).Should().BeApproximately(expected.GetProperty("norm").GetDouble(), 1e-4, name);
            dot.Should().BeApproximately(expected.GetProperty("dot").GetDouble(), 1e-4 * Math.Max(1, Math.Abs(expected.GetProperty("dot").GetDouble())), name);
        }
        log.WriteLine($"worst difference of the first 8 values of a trained tensor {worstHead:E2}");
        // B left zero would make the comparison of A vacuous: every B has moved.
        foreach (var (path, adapter) in lora.Adapters)
        {
            adapter.B.abs().max().item<float>().Should().BeGreaterThan(0, path);
        }
    }

    private static double[] Head(Tensor parameter)
    {
        using var flat = parameter.detach().flatten().to_type(ScalarType.Float64);
        return flat.data<double>().ToArray().Take(8).ToArray();
    }
}
