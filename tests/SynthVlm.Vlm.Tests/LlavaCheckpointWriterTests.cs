using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.Testing;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Tiny;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Tests;

/// <summary>
/// Saving the parity fixture model (bf16-exact weights) in llava-hf's and LLaVA's layouts and the
/// projector alone, and loading each back: logits identical to the fixture model's.
/// </summary>
public sealed class LlavaCheckpointWriterTests
{
    private const int HfImage = 512;

    [Fact]
    public void HuggingFace_layout_in_shards_loads_back_with_identical_logits()
    {
        using var temp = new TempDirectory();
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        var (expected, expectedLoss) = Run(model, HfImage);
        var folder = temp.Sub("hf");

        LlavaCheckpointWriter.SaveHuggingFace(model, folder, new LlavaSaveOptions { MaxShardBytes = 100_000, TokenizerDirectory = LlavaParityTests.TinyModel });

        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "model.safetensors.index.json")))!;
        var shards = Directory.GetFiles(folder, "model-*.safetensors").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        shards.Count.Should().BeGreaterThan(1);
        shards[0].Should().Be($"model-00001-of-{shards.Count:D5}.safetensors");
        var weightMap = index["weight_map"]!.AsObject();
        weightMap.Select(kv => kv.Value!.GetValue<string>()).Distinct().Order(StringComparer.Ordinal).Should().Equal(shards);
        weightMap.Select(kv => kv.Key).Should().BeEquivalentTo(model.named_parameters().Select(p => p.name));
        index["metadata"]!["total_size"]!.GetValue<long>().Should().Be(model.parameters().Sum(p => p.numel() * 4));
        File.Exists(Path.Combine(folder, "model.safetensors")).Should().BeFalse();
        foreach (var file in new[] { "config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json" })
        {
            File.Exists(Path.Combine(folder, file)).Should().BeTrue(file);
        }
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!;
        config["architectures"]![0]!.GetValue<string>().Should().Be("LlavaForConditionalGeneration");
        config["image_token_index"]!.GetValue<int>().Should().Be(512);
        config["pad_token_id"]!.GetValue<int>().Should().Be(513);
        config["torch_dtype"]!.GetValue<string>().Should().Be("float32");
        config["text_config"]!["vocab_size"]!.GetValue<int>().Should().Be(514);
        config["tokenizer_model_max_length"]!.GetValue<int>().Should().Be(128);

        using var loaded = LlavaModelLoader.Load(folder);
        loaded.Config.Should().Be(model.Config);
        var (actual, loss) = Run(loaded, HfImage);
        CheckpointTestSupport.Identical(actual, expected).Should().BeTrue();
        loss.Should().Be(expectedLoss);
        expected.Dispose();
        actual.Dispose();
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, "BF16", "bfloat16")]
    [InlineData(ScalarType.Float16, "F16", "float16")]
    public void HuggingFace_layout_in_half_precision_writes_that_dtype_in_one_file(ScalarType dtype, string safetensorsName, string torchName)
    {
        using var temp = new TempDirectory();
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        var (expected, _) = Run(model, HfImage);
        var folder = temp.Sub("half");

        LlavaCheckpointWriter.SaveHuggingFace(model, folder, new LlavaSaveOptions { DType = dtype });

        File.Exists(Path.Combine(folder, "model.safetensors.index.json")).Should().BeFalse();
        var (header, data) = CheckpointTestSupport.ReadSafetensors(Path.Combine(folder, "model.safetensors"));
        header["__metadata__"]!["format"]!.GetValue<string>().Should().Be("pt");
        header.Where(kv => kv.Key != "__metadata__").Should().OnlyContain(kv => kv.Value!["dtype"]!.GetValue<string>() == safetensorsName);
        data.LongLength.Should().Be(model.parameters().Sum(p => p.numel() * 2));
        JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!["torch_dtype"]!.GetValue<string>().Should().Be(torchName);

        using var loaded = LlavaModelLoader.Load(folder);
        var (actual, _) = Run(loaded, HfImage);
        if (dtype == ScalarType.BFloat16)
        {
            // The fixture's weights are bf16 values: nothing is lost.
            CheckpointTestSupport.Identical(actual, expected).Should().BeTrue();
        }
        else
        {
            (actual - expected).abs().max().item<float>().Should().BeLessThan(0.05f);
        }
        expected.Dispose();
        actual.Dispose();
    }

    [Fact]
    public void LLaVA_layout_round_trip_loads_back_with_identical_logits_and_its_own_keys()
    {
        using var temp = new TempDirectory();
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        var (expected, expectedLoss) = Run(model, HfImage);
        var folder = temp.Sub("llava");

        LlavaCheckpointWriter.SaveOriginal(model, folder, new LlavaSaveOptions { TokenizerDirectory = LlavaParityTests.TinyModel });

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!;
        config["architectures"]![0]!.GetValue<string>().Should().Be("LlavaLlamaForCausalLM");
        config["mm_vision_tower"]!.GetValue<string>().Should().Be("clip_vision_tower");
        config["mm_projector_type"]!.GetValue<string>().Should().Be("mlp2x_gelu");
        config["mm_hidden_size"]!.GetValue<int>().Should().Be(32);
        config["mm_vision_select_layer"]!.GetValue<int>().Should().Be(-2);
        config["mm_vision_select_feature"]!.GetValue<string>().Should().Be("patch");
        var keys = CheckpointTestSupport.ReadSafetensors(Path.Combine(folder, "model.safetensors")).Header.Select(kv => kv.Key).ToList();
        keys.Should().Contain(["model.mm_projector.0.weight", "model.mm_projector.2.bias", "model.embed_tokens.weight", "lm_head.weight", "model.layers.1.mlp.down_proj.weight"]);
        keys.Should().NotContain(k => k.Contains("vision", StringComparison.Ordinal));
        var tower = Path.Combine(folder, "clip_vision_tower");
        var towerKeys = CheckpointTestSupport.ReadSafetensors(Path.Combine(tower, "model.safetensors")).Header.Select(kv => kv.Key).Where(k => k != "__metadata__").ToList();
        towerKeys.Should().OnlyContain(k => k.StartsWith("vision_model.", StringComparison.Ordinal));
        JsonNode.Parse(File.ReadAllText(Path.Combine(tower, "config.json")))!["model_type"]!.GetValue<string>().Should().Be("clip_vision_model");
        File.Exists(Path.Combine(tower, "preprocessor_config.json")).Should().BeTrue();

        using var loaded = LlavaModelLoader.Load(folder);
        loaded.Config.Layout.Should().Be(LlavaLayout.Original);
        var (actual, loss) = Run(loaded, LlavaConfig.LlavaImageTokenIndex);
        CheckpointTestSupport.Identical(actual, expected).Should().BeTrue();
        loss.Should().Be(expectedLoss);
        expected.Dispose();
        actual.Dispose();
    }

    [Fact]
    public void LLaVA_layout_saved_as_llava_hf_gains_image_and_pad_tokens_as_transformers_conversion_does()
    {
        using var temp = new TempDirectory();
        var original = temp.Sub("original");
        TinyLlava.Write(original, LlavaLayout.Original, seed: 3);
        using var model = LlavaModelLoader.Load(original);
        var (expected, _) = Run(model, LlavaConfig.LlavaImageTokenIndex);
        var folder = temp.Sub("hf");

        LlavaCheckpointWriter.SaveHuggingFace(model, folder, new LlavaSaveOptions { TokenizerDirectory = original });

        var (again, _) = Run(model, LlavaConfig.LlavaImageTokenIndex);
        CheckpointTestSupport.Identical(again, expected).Should().BeTrue("saving leaves the model as it was");
        again.Dispose();

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!;
        config["image_token_index"]!.GetValue<int>().Should().Be(512);
        config["pad_token_id"]!.GetValue<int>().Should().Be(513);
        config["text_config"]!["vocab_size"]!.GetValue<int>().Should().Be(576, "512 + 2 padded to a multiple of 64");
        var added = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "added_tokens.json")))!;
        added["<image>"]!.GetValue<int>().Should().Be(512);
        added["<pad>"]!.GetValue<int>().Should().Be(513);
        var tokenizerConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "tokenizer_config.json")))!;
        tokenizerConfig["pad_token"]!.GetValue<string>().Should().Be("<pad>");
        tokenizerConfig["added_tokens_decoder"]!["512"]!["content"]!.GetValue<string>().Should().Be("<image>");

        using var loaded = LlavaModelLoader.Load(folder);
        loaded.Config.ImageTokenIndex.Should().Be(512);
        var (actual, _) = Run(loaded, 512);
        actual.shape[2].Should().Be(576);
        CheckpointTestSupport.Identical(actual.narrow(2, 0, 512), expected).Should().BeTrue();
        var embed = loaded.named_parameters().Single(p => p.name == "language_model.model.embed_tokens.weight").parameter;
        var oldMean = embed.narrow(0, 0, 512).mean([0]);
        (embed[575] - oldMean).abs().max().item<float>().Should().BeLessThan(1e-6f);
        expected.Dispose();
        actual.Dispose();
    }

    [Fact]
    public void Keys_in_the_style_of_transformers_4_52_load_with_identical_logits()
    {
        using var temp = new TempDirectory();
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        var (expected, _) = Run(model, HfImage);
        var folder = temp.Sub("new-keys");
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(LlavaParityTests.TinyModel, "config.json"), Path.Combine(folder, "config.json"));
        static string Rename(string key) => key switch
        {
            _ when key.StartsWith("language_model.model.", StringComparison.Ordinal) => "model.language_model." + key["language_model.model.".Length..],
            _ when key.StartsWith("language_model.lm_head.", StringComparison.Ordinal) => key["language_model.".Length..],
            _ => "model." + key,
        };
        var tensors = model.named_parameters().Select(p => (Rename(p.name), (Tensor)p.parameter)).ToList();
        SafetensorsWriter.Write(Path.Combine(folder, "model.safetensors"), tensors, ScalarType.Float32);
        tensors.Select(t => t.Item1).Should().Contain(["model.vision_tower.vision_model.embeddings.patch_embedding.weight", "model.multi_modal_projector.linear_1.weight", "model.language_model.layers.0.self_attn.q_proj.weight", "lm_head.weight"]);

        using var loaded = LlavaModelLoader.Load(folder);
        var (actual, _) = Run(loaded, HfImage);
        CheckpointTestSupport.Identical(actual, expected).Should().BeTrue();
        expected.Dispose();
        actual.Dispose();
    }

    [Fact]
    public async Task Projector_file_has_LLaVA_keys_for_torch_load_and_loads_back()
    {
        using var temp = new TempDirectory();
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        var path = temp.Sub("mm_projector.bin");

        LlavaCheckpointWriter.SaveProjector(model, path);

        var result = await ChildProcess.RunPythonAsync(Path.Combine(Scripts.Fixtures, "describe_state_dict.py"), [path], TimeSpan.FromSeconds(60));
        result.ExitCode.Should().Be(0, result.StandardError);
        var described = JsonDocument.Parse(result.StandardOutput).RootElement;
        described.EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo(["model.mm_projector.0.weight", "model.mm_projector.0.bias", "model.mm_projector.2.weight", "model.mm_projector.2.bias"]);
        described.GetProperty("model.mm_projector.0.weight").GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).Should().Equal(64, 32);
        described.GetProperty("model.mm_projector.2.weight").GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).Should().Equal(64, 64);
        described.GetProperty("model.mm_projector.0.bias").GetProperty("dtype").GetString().Should().Be("torch.float32");
        var projector1 = model.named_parameters().Single(p => p.name == "multi_modal_projector.linear_1.weight").parameter;
        described.GetProperty("model.mm_projector.0.weight").GetProperty("sum").GetDouble().Should().BeApproximately(projector1.sum().item<float>(), 1e-4);

        using var other = TinyLlava.Build(LlavaLayout.HuggingFace, seed: 7);
        LlavaCheckpointWriter.LoadProjector(other, path);
        foreach (var name in new[] { "multi_modal_projector.linear_1.weight", "multi_modal_projector.linear_1.bias", "multi_modal_projector.linear_2.weight", "multi_modal_projector.linear_2.bias" })
        {
            var expected = model.named_parameters().Single(p => p.name == name).parameter;
            var actual = other.named_parameters().Single(p => p.name == name).parameter;
            CheckpointTestSupport.Identical(actual, expected).Should().BeTrue(name);
        }
    }

    [Fact]
    public async Task Safetensors_written_in_bf16_read_back_in_PyTorch_with_every_shape_and_sum()
    {
        using var temp = new TempDirectory();
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        var folder = temp.Sub("bf16");
        LlavaCheckpointWriter.SaveHuggingFace(model, folder, new LlavaSaveOptions { DType = ScalarType.BFloat16 });

        var result = await ChildProcess.RunPythonAsync(Path.Combine(Scripts.Fixtures, "describe_state_dict.py"), [Path.Combine(folder, "model.safetensors")], TimeSpan.FromSeconds(60));

        result.ExitCode.Should().Be(0, result.StandardError);
        var described = JsonDocument.Parse(result.StandardOutput).RootElement;
        described.GetProperty("__metadata__").GetProperty("format").GetString().Should().Be("pt");
        var parameters = model.named_parameters().ToList();
        described.EnumerateObject().Count().Should().Be(parameters.Count + 1);
        foreach (var (name, parameter) in parameters)
        {
            var entry = described.GetProperty(name);
            entry.GetProperty("dtype").GetString().Should().Be("torch.bfloat16", name);
            entry.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).Should().Equal(parameter.shape, name);
            using var sum = parameter.to_type(ScalarType.Float64).sum();
            entry.GetProperty("sum").GetDouble().Should().BeApproximately(sum.item<double>(), 1e-6 * Math.Max(1, Math.Abs(sum.item<double>())), name);
        }
    }

    [Fact]
    public void Projector_of_another_width_is_refused_naming_the_file_and_the_tensor()
    {
        using var temp = new TempDirectory();
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        var path = temp.Sub("mm_projector.bin");
        LlavaCheckpointWriter.SaveProjector(model, path);
        var wider = TinyLlava.Config(LlavaLayout.HuggingFace);
        using var other = new LlavaModel(wider with { Text = wider.Text with { HiddenSize = 128 } });

        var act = () => LlavaCheckpointWriter.LoadProjector(other, path);

        act.Should().Throw<VlmModelException>().WithMessage($"{path}: *model.mm_projector.0.weight has shape [64, 32], the model needs [128, 32]*");
        FluentActions.Invoking(() => LlavaCheckpointWriter.LoadProjector(other, temp.Sub("absent.bin")))
            .Should().Throw<VlmModelException>().WithMessage("*absent.bin: projector file not found.");
    }

    private static (Tensor Logits, float Loss) Run(LlavaModel model, int imageId) => CheckpointTestSupport.Run(model, imageId);
}
