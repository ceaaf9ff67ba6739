using Xunit.Abstractions;
using System.Runtime.InteropServices;
using SynthVlm.Vlm.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Tests;

/// <summary>
/// <see cref="LlavaModel.GradientCheckpointing"/>: the same loss and gradients as plain backprop
/// (with and without LoRA, with LoRA dropout drawing the same masks in the recomputation), no
/// leaked tensors, and less memory held between forward and backward.
/// </summary>
[Collection(nameof(ProcessWideState))]
public sealed class GradientCheckpointingTests
{
    // The recomputation repeats the same fp32 operations on the same inputs: the results are
    // bit-identical in practice; 1e-6 leaves room for a different reduction order in a kernel.
    private const double Tolerance = 1e-6;

    [Fact]
    public void Loss_and_every_gradient_equal_plain_backprop()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var pixels = LlavaParityTests.Pixels();

        var (plainLoss, plain) = LossAndGradients(model, pixels, checkpointing: false);
        var (checkpointedLoss, checkpointed) = LossAndGradients(model, pixels, checkpointing: true);

        checkpointedLoss.Should().BeApproximately(plainLoss, Tolerance);
        AssertSameGradients(plain, checkpointed);
        // Every layer of the decoder got its gradient through the recomputation.
        checkpointed.Keys.Count(k => k.StartsWith("language_model.model.layers.", StringComparison.Ordinal)).Should().Be(2 * 9);
    }

    [Fact]
    public void With_LoRA_and_its_dropout_loss_and_every_gradient_equal_plain_backprop()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var pixels = LlavaParityTests.Pixels();
        using var lora = LlavaLora.Attach(model, 4, 8, dropout: 0.1, seed: 3);
        lora.Training = true;
        using (no_grad())
        {
            // B = 0 would make every gradient of A zero; give B values so both are checked.
            using var g = new Generator(11);
            foreach (var adapter in lora.Adapters.Values)
            {
                using var values = randn(adapter.B.shape, generator: g).mul(0.1);
                adapter.B.copy_(values);
            }
        }
        // Only the language model's LoRA and the projector train, as in LLaVA's stage 2; the
        // decoder's input then requires grad through the projector only for image rows.
        foreach (var (name, parameter) in model.named_parameters())
        {
            parameter.requires_grad = name.StartsWith("multi_modal_projector.", StringComparison.Ordinal);
        }
        var loraNames = lora.Adapters.SelectMany(a => new[] { (a.Key + ".lora_A", a.Value.A), (a.Key + ".lora_B", a.Value.B) }).ToList();

        manual_seed(42);
        var (plainLoss, plain) = LossAndGradients(model, pixels, checkpointing: false, loraNames);
        manual_seed(42);
        var (checkpointedLoss, checkpointed) = LossAndGradients(model, pixels, checkpointing: true, loraNames);

        checkpointedLoss.Should().BeApproximately(plainLoss, Tolerance);
        AssertSameGradients(plain, checkpointed);
        checkpointed.Keys.Count(k => k.Contains(".lora_", StringComparison.Ordinal)).Should().Be(2 * 7 * 2);
        checkpointed.Keys.Count(k => k.StartsWith("multi_modal_projector.", StringComparison.Ordinal)).Should().Be(4);
        plain.Values.Where(g => g.Any(v => v != 0)).Should().HaveCount(plain.Count, "B ≠ 0 gives every LoRA tensor a gradient");
    }

    [Fact]
    public void LoRA_on_a_frozen_model_still_gets_gradients_through_checkpointed_layers()
    {
        // Text only and a frozen projector: the decoder's input requires no grad, which in
        // PyTorch's reentrant checkpoint would silently drop the layers' gradients.
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var lora = LlavaLora.Attach(model, 4, 8, seed: 3);
        foreach (var parameter in model.parameters())
        {
            parameter.requires_grad = false;
        }
        var loraNames = lora.Adapters.SelectMany(a => new[] { (a.Key + ".lora_A", a.Value.A), (a.Key + ".lora_B", a.Value.B) }).ToList();
        var textOnly = LlavaParityTests.Sequences().Where(s => !s.HasImage(model.Config)).ToList();

        var (plainLoss, plain) = LossAndGradients(model, null, checkpointing: false, loraNames, textOnly);
        var (checkpointedLoss, checkpointed) = LossAndGradients(model, null, checkpointing: true, loraNames, textOnly);

        checkpointedLoss.Should().BeApproximately(plainLoss, Tolerance);
        AssertSameGradients(plain, checkpointed);
        checkpointed.Should().HaveCount(2 * 7 * 2);
    }

    [Fact]
    public void Twenty_checkpointed_forward_backward_steps_leave_no_live_tensor_behind()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var pixels = LlavaParityTests.Pixels();
        using var lora = LlavaLora.Attach(model, 4, 8, dropout: 0.1, seed: 3);
        lora.Training = true;
        model.GradientCheckpointing = true;
        var sequences = LlavaParityTests.Sequences();
        var parameters = model.parameters().Concat(lora.Parameters()).Where(p => p.requires_grad).ToList();

        void Step()
        {
            using var scope = NewDisposeScope();
            using var output = model.Forward(sequences, pixels);
            output.Loss!.backward();
            using (no_grad())
            {
                foreach (var p in parameters.Where(p => p.grad is not null))
                {
                    p.sub_(p.grad!.mul(1e-4));
                    p.grad!.zero_();
                }
            }
        }

        // The first step creates the gradients, which live with the parameters.
        Step();
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (var i = 0; i < 20; i++)
        {
            Step();
        }

        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(before);
    }

    [Fact]
    public void Without_grad_checkpointing_builds_no_graph_and_changes_nothing()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var pixels = LlavaParityTests.Pixels();
        model.GradientCheckpointing = true;
        var sequences = LlavaParityTests.Sequences();

        using var plain = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using (no_grad())
        {
            using var expected = plain.Forward(sequences, pixels);
            using var actual = model.Forward(sequences, pixels);
            actual.Logits.requires_grad.Should().BeFalse();
            actual.Loss!.item<float>().Should().Be(expected.Loss!.item<float>());
        }
    }

    private static (double Loss, Dictionary<string, double[]> Gradients) LossAndGradients(
        LlavaModel model,
        Tensor? pixels,
        bool checkpointing,
        IReadOnlyList<(string Name, TorchSharp.Modules.Parameter Parameter)>? extra = null,
        List<LlavaSequence>? sequences = null)
    {
        model.GradientCheckpointing = checkpointing;
        var trained = model.named_parameters().Select(p => (p.name, p.parameter)).Concat(extra ?? []).ToList();
        foreach (var (_, parameter) in trained)
        {
            parameter.grad = null;
        }
        using var scope = NewDisposeScope();
        using var output = model.Forward(sequences ?? LlavaParityTests.Sequences(), pixels);
        output.Loss!.backward();
        var gradients = new Dictionary<string, double[]>(StringComparer.Ordinal);
        foreach (var (name, parameter) in trained)
        {
            if (parameter.grad is { } g)
            {
                gradients[name] = g.to_type(ScalarType.Float64).flatten().data<double>().ToArray();
                parameter.grad = null;
            }
        }
        return (output.Loss.item<float>(), gradients);
    }

    private static void AssertSameGradients(Dictionary<string, double[]> expected, Dictionary<string, double[]> actual)
    {
        actual.Keys.Should().BeEquivalentTo(expected.Keys);
        foreach (var (name, values) in expected)
        {
            LlavaParityTests.MaxAbsDifference(actual[name], values).Should().BeLessThanOrEqualTo(Tolerance, name);
        }
    }
}

/// <summary>
/// Tests that run alone because they read process-wide state parallel tests would disturb: the
/// C heap, and the default generator (LoRA dropout draws from it; so does LlavaLora.Load).
/// </summary>
[CollectionDefinition(nameof(ProcessWideState), DisableParallelization = true)]
public sealed class ProcessWideState;

/// <summary>
/// Evidence that checkpointing saves memory: the bytes the C heap (where LibTorch's CPU tensors
/// live) holds between the end of the forward pass and the backward — the activations the graph
/// saved for backward — are several times fewer with checkpointing.
/// </summary>
[Collection(nameof(ProcessWideState))]
public sealed class GradientCheckpointingMemoryTests(ITestOutputHelper log)
{
    [Fact]
    public void Checkpointing_holds_a_fraction_of_the_activation_memory_between_forward_and_backward()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // mallinfo2 is glibc's
        }
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var pixels = LlavaParityTests.Pixels();
        foreach (var (name, parameter) in model.named_parameters())
        {
            parameter.requires_grad = !name.StartsWith("vision_tower.", StringComparison.Ordinal);
        }
        // A batch of 24 sequences (the three fixture ones eight times), up to 128 positions.
        var sequences = Enumerable.Repeat(LlavaParityTests.Sequences(), 8).SelectMany(s => s).ToList();
        using var images = cat(Enumerable.Repeat(pixels, 8).ToList(), 0);

        long HeldAfterForward(bool checkpointing)
        {
            model.GradientCheckpointing = checkpointing;
            using var scope = NewDisposeScope();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var before = HeapBytesInUse();
            using var output = model.Forward(sequences, images);
            var held = HeapBytesInUse() - before;
            output.Loss!.backward();
            foreach (var p in model.parameters())
            {
                p.grad = null;
            }
            return held;
        }

        HeldAfterForward(false);
        HeldAfterForward(true);
        var plain = HeldAfterForward(false);
        var checkpointed = HeldAfterForward(true);

        log.WriteLine($"heap held between forward and backward: plain {plain} bytes, checkpointed {checkpointed} bytes");
        // Both hold the logits [24, T, 514] and the cross-entropy's saved tensors; without
        // checkpointing each of the two layers also holds its attention scores and MLP activations.
        plain.Should().BeGreaterThan(0);
        checkpointed.Should().BeLessThan(plain / 2, $"checkpointed {checkpointed} bytes vs plain {plain} bytes");
    }

    private static long HeapBytesInUse()
    {
        var info = NativeHeap.mallinfo2();
        return (long)(info.uordblks + info.hblkhd);
    }

    private static class NativeHeap
    {
        [StructLayout(LayoutKind.Sequential)]
        internal struct MallInfo2
        {
            public nuint arena;
            public nuint ordblks;
            public nuint smblks;
            public nuint hblks;
            public nuint hblkhd;
            public nuint usmblks;
            public nuint fsmblks;
            public nuint uordblks;
            public nuint fordblks;
            public nuint keepcost;
        }

        [DllImport("libc", EntryPoint = "mallinfo2")]
        internal static extern MallInfo2 mallinfo2();
    }
}
