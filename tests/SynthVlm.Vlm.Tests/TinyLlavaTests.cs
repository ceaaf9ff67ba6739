using System.Text.Json.Nodes;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Tiny;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Tests;

/// <summary>The tiny LLaVA folders: both layouts load, the same seed gives the same bytes, EnsureTiny is idempotent.</summary>
public sealed class TinyLlavaTests
{
    [Theory]
    [InlineData(LlavaLayout.HuggingFace, 514, 512)]
    [InlineData(LlavaLayout.Original, 512, LlavaConfig.LlavaImageTokenIndex)]
    public void Folder_loads_with_the_tiny_shape_and_runs_a_batch(LlavaLayout layout, int vocab, int imageToken)
    {
        using var temp = new TempDirectory();
        TinyLlava.Write(temp.Path, layout);

        var folder = LlavaModelFolder.Open(temp.Path);
        folder.Layout.Should().Be(layout);
        folder.Config.Text.VocabSize.Should().Be(vocab);
        folder.Config.ImageTokenIndex.Should().Be(imageToken);
        folder.Config.Vision.Should().Be(new VisionTowerConfig(32, 64, 3, 4, 42, 14));
        folder.Config.Text.HiddenSize.Should().Be(64);
        folder.Config.Text.NumHiddenLayers.Should().Be(2);
        folder.Config.Text.NumKeyValueHeads.Should().Be(2);
        folder.Config.ModelMaxLength.Should().Be(256);
        File.Exists(Path.Combine(folder.TokenizerDirectory, "tokenizer.model")).Should().BeTrue();
        File.ReadAllBytes(Path.Combine(folder.TokenizerDirectory, "tokenizer.model")).Should().Equal(
            File.ReadAllBytes(Path.Combine(LlavaParityTests.TinyModel, "tokenizer.model")));
        JsonNode.Parse(File.ReadAllText(folder.PreprocessorConfigPath))!["crop_size"]!["height"]!.GetValue<int>().Should().Be(42);
        File.Exists(Path.Combine(temp.Path, "added_tokens.json")).Should().Be(layout == LlavaLayout.HuggingFace);
        if (layout == LlavaLayout.Original)
        {
            folder.Config.ImageAspectRatio.Should().Be("pad");
            folder.VisionTowerDirectory.Should().Be(Path.Combine(temp.Path, "clip-vit-tiny"));
        }

        using var model = LlavaModelLoader.Load(folder);
        var norm = model.named_parameters().Single(p => p.name == "language_model.model.norm.weight").parameter;
        norm.mean().item<float>().Should().BeApproximately(1, 0.05f);
        var (logits, loss) = CheckpointTestSupport.Run(model, imageToken);
        logits.shape[2].Should().Be(vocab);
        float.IsFinite(loss).Should().BeTrue();
        logits.Dispose();
    }

    [Theory]
    [InlineData(LlavaLayout.HuggingFace)]
    [InlineData(LlavaLayout.Original)]
    public void Same_seed_gives_the_same_bytes_and_another_seed_other_weights(LlavaLayout layout)
    {
        using var temp = new TempDirectory();
        TinyLlava.Write(temp.Sub("a"), layout, seed: 1);
        TinyLlava.Write(temp.Sub("b"), layout, seed: 1);
        TinyLlava.Write(temp.Sub("c"), layout, seed: 2);

        var files = Directory.GetFiles(temp.Sub("a"), "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(temp.Sub("a"), f)).Order(StringComparer.Ordinal).ToList();
        files.Should().Contain("model.safetensors");
        Directory.GetFiles(temp.Sub("b"), "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(temp.Sub("b"), f)).Order(StringComparer.Ordinal).Should().Equal(files);
        foreach (var file in files)
        {
            File.ReadAllBytes(Path.Combine(temp.Sub("b"), file)).Should().Equal(File.ReadAllBytes(Path.Combine(temp.Sub("a"), file)), file);
        }
        File.ReadAllBytes(Path.Combine(temp.Sub("c"), "model.safetensors")).Should().NotEqual(File.ReadAllBytes(Path.Combine(temp.Sub("a"), "model.safetensors")));
    }

    [Fact]
    public void EnsureTiny_writes_once_and_leaves_a_complete_folder_alone()
    {
        using var temp = new TempDirectory();
        var target = temp.Sub("tiny");

        var path = TinyLlava.EnsureTiny(target);
        var weights = Path.Combine(path, "model.safetensors");
        var written = File.GetLastWriteTimeUtc(weights);
        File.SetLastWriteTimeUtc(weights, written.AddDays(-1));
        var again = TinyLlava.EnsureTiny(target);

        again.Should().Be(path);
        path.Should().Be(Path.GetFullPath(target));
        File.GetLastWriteTimeUtc(weights).Should().Be(written.AddDays(-1), "a complete folder is not rewritten");
        Directory.GetDirectories(temp.Path).Should().HaveCount(1, "the staging folder was renamed into place");
        using var model = LlavaModelLoader.Load(path);
        model.Config.Layout.Should().Be(LlavaLayout.HuggingFace);
    }
    [Fact]
    public void WriteParts_writes_a_CLIP_folder_and_a_LLaMA_folder_that_assemble_into_the_tiny_model_without_a_projector()
    {
        using var temp = new TempDirectory();

        var (vision, llama) = TinyLlava.WriteParts(temp.Path, seed: 3);

        var llamaConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(llama, "config.json")))!;
        llamaConfig["model_type"]!.GetValue<string>().Should().Be("llama");
        llamaConfig["architectures"]![0]!.GetValue<string>().Should().Be("LlamaForCausalLM");
        llamaConfig.AsObject().Select(p => p.Key).Should().NotContain(k => k.StartsWith("mm_", StringComparison.Ordinal));
        var llamaKeys = SafetensorsKeys(Path.Combine(llama, "model.safetensors"));
        llamaKeys.Should().OnlyContain(k => k.StartsWith("model.", StringComparison.Ordinal) || k.StartsWith("lm_head.", StringComparison.Ordinal));
        llamaKeys.Should().Contain("lm_head.weight").And.NotContain(k => k.Contains("mm_projector", StringComparison.Ordinal));
        SafetensorsKeys(Path.Combine(vision, "model.safetensors")).Should().OnlyContain(k => k.StartsWith("vision_model.", StringComparison.Ordinal));
        File.Exists(Path.Combine(vision, "preprocessor_config.json")).Should().BeTrue();
        File.Exists(Path.Combine(llama, "tokenizer.model")).Should().BeTrue();

        using var pipeline = LlavaPipeline.Assemble(vision, llama, options: null, seed: 5);
        using var reference = TinyLlava.Build(LlavaLayout.Original, seed: 3);
        var expected = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, parameter) in pipeline.Model.named_parameters())
        {
            using var actual = parameter.detach().flatten();
            using var wanted = expected[name].detach().flatten();
            var same = actual.data<float>().ToArray().SequenceEqual(wanted.data<float>().ToArray());
            same.Should().Be(!name.StartsWith("multi_modal_projector.", StringComparison.Ordinal), $"{name}: the parts hold every weight but the projector, which Assemble draws");
        }
    }

    private static List<string> SafetensorsKeys(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var length = (int)BitConverter.ToUInt64(bytes, 0);
        var header = JsonNode.Parse(bytes.AsSpan(8, length))!.AsObject();
        return header.Select(p => p.Key).Where(k => k != "__metadata__").ToList();
    }
}
