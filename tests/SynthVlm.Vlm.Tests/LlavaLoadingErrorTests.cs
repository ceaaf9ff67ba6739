using System.Text.Json.Nodes;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Tiny;

namespace SynthVlm.Vlm.Tests;

/// <summary>Folders that must not load: each error names the file and the tensor or field.</summary>
public sealed class LlavaLoadingErrorTests : IDisposable
{
    private readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    private string Folder(long maxShardBytes = 5_000_000_000)
    {
        var folder = temp.Sub("model");
        using var model = TinyLlava.Build(LlavaLayout.HuggingFace);
        LlavaCheckpointWriter.SaveHuggingFace(model, folder, new LlavaSaveOptions { MaxShardBytes = maxShardBytes });
        return folder;
    }

    private static Action Load(string folder) => () => LlavaModelLoader.Load(folder).Dispose();

    [Fact]
    public void A_shard_the_index_names_but_the_folder_lacks()
    {
        var folder = Folder(maxShardBytes: 100_000);
        var shards = Directory.GetFiles(folder, "model-*.safetensors").Order(StringComparer.Ordinal).ToList();
        File.Delete(shards[1]);

        Load(folder).Should().Throw<VlmModelException>()
            .WithMessage($"*model.safetensors.index.json: shard file(s) missing: {Path.GetFileName(shards[1])}.");
    }

    [Fact]
    public void A_tensor_of_another_shape()
    {
        var folder = Folder();
        CheckpointTestSupport.EditHeader(Path.Combine(folder, "model.safetensors"), h =>
            h["language_model.model.layers.1.mlp.up_proj.weight"]!["shape"] = new JsonArray(64, 128));

        Load(folder).Should().Throw<VlmModelException>()
            .WithMessage("*language_model.model.layers.1.mlp.up_proj.weight in model.safetensors has shape [64, 128], the configuration needs [128, 64]*");
    }

    [Fact]
    public void A_tensor_the_configuration_has_no_place_for()
    {
        var folder = Folder();
        CheckpointTestSupport.EditHeader(Path.Combine(folder, "model.safetensors"), h =>
        {
            var entry = h["language_model.model.layers.1.mlp.up_proj.weight"]!;
            h.Remove("language_model.model.layers.1.mlp.up_proj.weight");
            h["language_model.model.layers.2.mlp.up_proj.weight"] = entry;
        });

        Load(folder).Should().Throw<VlmModelException>()
            .WithMessage("*unexpected tensor language_model.model.layers.2.mlp.up_proj.weight in model.safetensors*missing tensor language_model.model.layers.1.mlp.up_proj.weight*");
    }

    [Fact]
    public void A_missing_tensor()
    {
        var folder = Folder();
        CheckpointTestSupport.EditHeader(Path.Combine(folder, "model.safetensors"), h => h.Remove("multi_modal_projector.linear_2.bias"));

        Load(folder).Should().Throw<VlmModelException>()
            .WithMessage($"{folder}: the checkpoint does not match the model: missing tensor multi_modal_projector.linear_2.bias.");
    }

    [Fact]
    public void An_integer_tensor()
    {
        var folder = Folder();
        CheckpointTestSupport.EditHeader(Path.Combine(folder, "model.safetensors"), h =>
            h["language_model.model.norm.weight"]!["dtype"] = "I32");

        Load(folder).Should().Throw<VlmModelException>()
            .WithMessage("*model.safetensors: tensor language_model.model.norm.weight is I32; the model loads floating tensors*");
    }

    [Fact]
    public void A_truncated_safetensors_header()
    {
        var folder = Folder();
        var path = Path.Combine(folder, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        var headerLength = BitConverter.ToInt64(bytes, 0);
        File.WriteAllBytes(path, bytes[..(int)(8 + (headerLength / 2))]);

        Load(folder).Should().Throw<VlmModelException>()
            .WithMessage($"{path}: safetensors header length {headerLength} is not plausible for a file of {8 + (headerLength / 2)} bytes.");
    }

    [Fact]
    public void A_config_without_vision_config()
    {
        var folder = Folder();
        var configPath = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config.Remove("vision_config");
        File.WriteAllText(configPath, config.ToJsonString());

        Load(folder).Should().Throw<VlmModelException>()
            .WithMessage($"{configPath}: neither a llava-hf config (vision_config + text_config) nor a LLaVA one (mm_vision_tower)*");
    }

    [Fact]
    public void A_vision_tower_folder_without_weights()
    {
        var folder = temp.Sub("llava");
        TinyLlava.Write(folder, LlavaLayout.Original);
        var tower = Path.Combine(folder, "clip-vit-tiny");
        File.Delete(Path.Combine(tower, "model.safetensors"));

        Load(folder).Should().Throw<VlmModelException>()
            .WithMessage($"{tower}: no weights (model.safetensors, *");
    }
}
