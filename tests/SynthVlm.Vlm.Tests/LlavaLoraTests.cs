using System.Text.Json.Nodes;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Tiny;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Tests;

/// <summary>LoRA: PEFT's initialisation and naming, the forward delta, merging, and a save/load round trip.</summary>
public sealed class LlavaLoraTests
{
    [Fact]
    public void Attach_adapts_every_decoder_linear_with_PEFT_initialisation_and_changes_nothing_yet()
    {
        using var model = TinyLlava.Build(LlavaLayout.HuggingFace);
        var (before, _) = CheckpointTestSupport.Run(model, 512);

        using var lora = LlavaLora.Attach(model, r: 4, alpha: 8);

        lora.Adapters.Should().HaveCount(2 * 7);
        lora.Adapters.Keys.Should().Contain(["language_model.model.layers.0.self_attn.q_proj", "language_model.model.layers.1.mlp.down_proj"]);
        lora.Adapters.Keys.Should().NotContain(k => k.Contains("vision", StringComparison.Ordinal) || k.Contains("lm_head", StringComparison.Ordinal));
        lora.Parameters().Should().HaveCount(2 * 7 * 2);
        var q = lora.Adapters["language_model.model.layers.0.self_attn.q_proj"];
        q.A.shape.Should().Equal(4, 64);
        q.B.shape.Should().Equal(64, 4);
        q.Scaling.Should().Be(2);
        q.B.abs().max().item<float>().Should().Be(0);
        var bound = 1 / Math.Sqrt(64);
        q.A.abs().max().item<float>().Should().BeLessThanOrEqualTo((float)bound).And.BeGreaterThan((float)(bound * 0.8));
        lora.Adapters["language_model.model.layers.0.mlp.down_proj"].A.shape.Should().Equal(4, 128);
        model.named_parameters().Should().NotContain(p => p.name.Contains("lora", StringComparison.Ordinal));

        var (after, _) = CheckpointTestSupport.Run(model, 512);
        CheckpointTestSupport.Identical(after, before).Should().BeTrue("B starts at zero");
        before.Dispose();
        after.Dispose();
    }

    [Fact]
    public void Forward_adds_scaling_times_B_A_x_and_merging_gives_the_same_logits()
    {
        using var model = TinyLlava.Build(LlavaLayout.HuggingFace);
        using var lora = LlavaLora.Attach(model, r: 2, alpha: 6, targetModules: ["q_proj", "v_proj", "down_proj"]);
        FillB(lora, seed: 1);
        var layer = model.named_modules().Single(m => m.name == "language_model.model.layers.1.self_attn.v_proj").module;
        var linear = (LinearLayer)layer;
        var adapter = lora.Adapters["language_model.model.layers.1.self_attn.v_proj"];
        using var x = randn(3, 64, generator: new TorchSharp.torch.Generator(5));

        using (no_grad())
        {
            using var actual = linear.Forward(x);
            // By hand, element by element: W x + 3 · B (A x).
            var w = linear.Weight.data<float>().ToArray();
            var a = adapter.A.data<float>().ToArray();
            var b = adapter.B.data<float>().ToArray();
            var xs = x.data<float>().ToArray();
            var outputs = linear.Weight.shape[0];
            for (var row = 0; row < 3; row++)
            {
                var ax = new double[2];
                for (var k = 0; k < 2; k++)
                {
                    for (var i = 0; i < 64; i++)
                    {
                        ax[k] += a[(k * 64) + i] * xs[(row * 64) + i];
                    }
                }
                for (var o = 0; o < outputs; o++)
                {
                    double expected = 0;
                    for (var i = 0; i < 64; i++)
                    {
                        expected += w[(o * 64) + i] * xs[(row * 64) + i];
                    }
                    expected += 3 * ((b[o * 2] * ax[0]) + (b[(o * 2) + 1] * ax[1]));
                    actual[row, o].item<float>().Should().BeApproximately((float)expected, 1e-5f);
                }
            }
        }

        var (adapted, adaptedLoss) = CheckpointTestSupport.Run(model, 512);
        using var plain = TinyLlava.Build(LlavaLayout.HuggingFace);
        var (original, _) = CheckpointTestSupport.Run(plain, 512);
        (adapted - original).abs().max().item<float>().Should().BeGreaterThan(1e-3f, "a non-zero B changes the model");

        LlavaLora.Merge(lora);

        linear.Adapter.Should().BeNull();
        var (merged, mergedLoss) = CheckpointTestSupport.Run(model, 512);
        (merged - adapted).abs().max().item<float>().Should().BeLessThan(1e-5f);
        mergedLoss.Should().BeApproximately(adaptedLoss, 1e-5f);
        adapted.Dispose();
        original.Dispose();
        merged.Dispose();
    }

    [Fact]
    public void Save_writes_PEFT_names_and_load_restores_the_same_logits()
    {
        using var temp = new TempDirectory();
        using var model = TinyLlava.Build(LlavaLayout.HuggingFace);
        var expectedLogits = default(Tensor);
        using (var lora = LlavaLora.Attach(model, r: 4, alpha: 16, dropout: 0.05))
        {
            FillB(lora, seed: 2);
            (expectedLogits, _) = CheckpointTestSupport.Run(model, 512);
            LlavaLora.Save(lora, temp.Path, "llava-hf/llava-1.5-7b-hf");
        }

        var config = JsonNode.Parse(File.ReadAllText(temp.Sub("adapter_config.json")))!;
        config["peft_type"]!.GetValue<string>().Should().Be("LORA");
        config["task_type"]!.GetValue<string>().Should().Be("CAUSAL_LM");
        config["r"]!.GetValue<int>().Should().Be(4);
        config["lora_alpha"]!.GetValue<double>().Should().Be(16);
        config["lora_dropout"]!.GetValue<double>().Should().Be(0.05);
        config["base_model_name_or_path"]!.GetValue<string>().Should().Be("llava-hf/llava-1.5-7b-hf");
        config["target_modules"]!.GetValue<string>().Should().Be(@".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)");
        var keys = CheckpointTestSupport.ReadSafetensors(temp.Sub("adapter_model.safetensors")).Header.Select(kv => kv.Key).Where(k => k != "__metadata__").ToList();
        keys.Should().HaveCount(28);
        keys.Should().Contain("base_model.model.language_model.model.layers.0.self_attn.q_proj.lora_A.weight");
        keys.Should().Contain("base_model.model.language_model.model.layers.1.mlp.gate_proj.lora_B.weight");

        using var fresh = TinyLlava.Build(LlavaLayout.HuggingFace);
        using var loaded = LlavaLora.Load(fresh, temp.Path);
        loaded.Rank.Should().Be(4);
        loaded.Alpha.Should().Be(16);
        loaded.Adapters.Should().HaveCount(14);
        var (actual, _) = CheckpointTestSupport.Run(fresh, 512);
        CheckpointTestSupport.Identical(actual, expectedLogits!).Should().BeTrue();
        actual.Dispose();
        expectedLogits!.Dispose();
    }

    [Fact]
    public void Load_refuses_an_adapter_of_another_width_naming_the_tensor()
    {
        using var temp = new TempDirectory();
        using (var model = TinyLlava.Build(LlavaLayout.HuggingFace))
        using (var lora = LlavaLora.Attach(model, r: 2, alpha: 2, targetModules: ["o_proj"]))
        {
            LlavaLora.Save(lora, temp.Path);
        }
        var config = TinyLlava.Config(LlavaLayout.HuggingFace);
        using var wider = new LlavaModel(config with { Text = config.Text with { HiddenSize = 128 } });

        var act = () => LlavaLora.Load(wider, temp.Path);

        act.Should().Throw<VlmModelException>()
            .WithMessage("*adapter_model.safetensors: *base_model.model.language_model.model.layers.0.self_attn.o_proj.lora_A.weight has shape [2, 64], expected [2, 128]*");
    }

    [Fact]
    public void Gradients_reach_A_and_B_only_through_the_loss()
    {
        using var model = TinyLlava.Build(LlavaLayout.HuggingFace);
        using var lora = LlavaLora.Attach(model, r: 2, alpha: 4, targetModules: ["q_proj"]);
        FillB(lora, seed: 3);
        using var pixels = LlavaParityTests.Pixels();

        using var output = model.Forward(CheckpointTestSupport.Sequences(512), pixels);
        output.Loss!.backward();

        foreach (var parameter in lora.Parameters())
        {
            parameter.grad.Should().NotBeNull();
            parameter.grad!.abs().sum().item<float>().Should().BeGreaterThan(0);
        }
    }

    private static void FillB(LlavaLoraSet lora, long seed)
    {
        using var generator = new TorchSharp.torch.Generator((ulong)seed);
        using var noGrad = no_grad();
        foreach (var adapter in lora.Adapters.Values)
        {
            using var values = randn(adapter.B.shape, generator: generator).mul(0.5);
            adapter.B.copy_(values);
        }
    }
}
