using System.Text.Json.Nodes;
using SynthVlm.Vlm.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Tiny;

/// <summary>
/// A tiny LLaVA-1.5 for tests and the embedded default: a CLIP vision tower (hidden 32, 3 layers,
/// 4 heads, 42-pixel images of 14-pixel patches), the mlp2x_gelu projector and a LLaMA decoder
/// (hidden 64, 2 layers, 4 query and 2 key/value heads, 256 positions) with the embedded 512-piece
/// SentencePiece tokenizer, seeded weights, written as a model folder of either layout.
/// </summary>
public static class TinyLlava
{
    /// <summary>The embedded tokenizer's pieces (&lt;unk&gt;=0, &lt;s&gt;=1, &lt;/s&gt;=2, 256 bytes, merges).</summary>
    public const int TokenizerPieces = 512;

    /// <summary>Context length (max_position_embeddings and the tokenizer's model_max_length).</summary>
    public const int MaxLength = 256;

    private const string VisionFolderName = "clip-vit-tiny";

    /// <summary>The configuration of the tiny model in <paramref name="layout"/>: a vocabulary of 514 (the pieces, &lt;image&gt; = 512, &lt;pad&gt; = 513) for llava-hf, 512 for LLaVA's.</summary>
    public static LlavaConfig Config(LlavaLayout layout)
    {
        var hf = layout == LlavaLayout.HuggingFace;
        return new LlavaConfig(
            new VisionTowerConfig(HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 3, NumAttentionHeads: 4, ImageSize: 42, PatchSize: 14),
            new LlamaConfig(VocabSize: hf ? TokenizerPieces + 2 : TokenizerPieces, HiddenSize: 64, IntermediateSize: 128, NumHiddenLayers: 2, NumAttentionHeads: 4, NumKeyValueHeads: 2, MaxPositionEmbeddings: MaxLength),
            "mlp2x_gelu",
            VisionFeatureLayer: -2,
            DropClassToken: true,
            ImageTokenIndex: hf ? TokenizerPieces : LlavaConfig.LlavaImageTokenIndex,
            ImageAspectRatio: hf ? null : "pad",
            ModelMaxLength: MaxLength,
            PadTokenId: hf ? TokenizerPieces + 1 : null,
            Layout: layout);
    }

    /// <summary>
    /// Builds the tiny model with weights drawn from a torch generator seeded with <paramref name="seed"/>
    /// (matrices and embeddings N(0, 0.05²), biases N(0, 0.02²), LayerNorm/RMSNorm weights 1 + N(0, 0.05²)).
    /// </summary>
    public static LlavaModel Build(LlavaLayout layout, int seed = 0)
    {
        var model = new LlavaModel(Config(layout));
        using var generator = new Generator((ulong)seed);
        using var noGrad = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            using var scope = NewDisposeScope();
            var noise = randn(parameter.shape, ScalarType.Float32, generator: generator);
            var isNorm = name.Contains("norm", StringComparison.Ordinal) || name.Contains("layrnorm", StringComparison.Ordinal);
            var value = isNorm && name.EndsWith(".weight", StringComparison.Ordinal) ? noise.Times(0.05).Plus(1)
                : name.EndsWith(".bias", StringComparison.Ordinal) ? noise.Times(0.02)
                : noise.Times(0.05);
            parameter.copy_(value);
        }
        return model;
    }

    /// <summary>
    /// Writes the tiny model into <paramref name="directory"/> (created; files overwritten) in
    /// <paramref name="layout"/>: config.json, model.safetensors (fp32), generation_config.json,
    /// tokenizer.model, tokenizer_config.json, special_tokens_map.json (and added_tokens.json for
    /// llava-hf), preprocessor_config.json (CLIP's mean/std at 42 pixels); for LLaVA's layout
    /// <c>image_aspect_ratio: "pad"</c> and the CLIP folder clip-vit-tiny inside the model folder.
    /// The same seed gives the same bytes.
    /// </summary>
    public static void Write(string directory, LlavaLayout layout, int seed = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory.CreateDirectory(directory);
        using var model = Build(layout, seed);
        var options = new LlavaSaveOptions { VisionTowerFolderName = VisionFolderName };
        if (layout == LlavaLayout.HuggingFace)
        {
            LlavaCheckpointWriter.SaveHuggingFace(model, directory, options);
        }
        else
        {
            LlavaCheckpointWriter.SaveOriginal(model, directory, options);
        }
        WriteTokenizer(directory, layout);
    }

    /// <summary>
    /// Writes the tiny model as the two base models LLaVA's training starts from, inside
    /// <paramref name="directory"/> (created; files overwritten): <c>clip-vit-tiny</c>, a CLIP vision
    /// folder (config.json of a CLIPVisionModel, model.safetensors with <c>vision_model.*</c>,
    /// preprocessor_config.json), and <c>llama-tiny</c>, a LLaMA folder (config.json of a
    /// LlamaForCausalLM with model_type "llama", model.safetensors with <c>model.*</c> and
    /// <c>lm_head.*</c> only, generation_config.json and the tokenizer files). The weights are
    /// those of <see cref="Build"/> in LLaVA's layout with the same seed; there is no projector.
    /// </summary>
    /// <returns>The CLIP folder and the LLaMA folder (full paths).</returns>
    public static (string VisionDirectory, string LanguageModelDirectory) WriteParts(string directory, int seed = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var vision = Path.GetFullPath(Path.Combine(directory, VisionFolderName));
        var llama = Path.GetFullPath(Path.Combine(directory, "llama-tiny"));
        Directory.CreateDirectory(vision);
        Directory.CreateDirectory(llama);
        using var model = Build(LlavaLayout.Original, seed);
        var config = model.Config;

        var towerJson = config.Vision.ToJson();
        towerJson["architectures"] = new JsonArray("CLIPVisionModel");
        towerJson["torch_dtype"] = "float32";
        LlavaCheckpointWriter.WriteJson(Path.Combine(vision, "config.json"), towerJson);
        LlavaCheckpointWriter.WriteJson(Path.Combine(vision, "preprocessor_config.json"), LlavaCheckpointWriter.ClipPreprocessorConfig(config.Vision.ImageSize));

        var llamaJson = config.Text.ToJson();
        llamaJson["torch_dtype"] = "float32";
        llamaJson["bos_token_id"] = 1;
        llamaJson["eos_token_id"] = 2;
        LlavaCheckpointWriter.WriteJson(Path.Combine(llama, "config.json"), llamaJson);
        LlavaCheckpointWriter.WriteJson(Path.Combine(llama, "generation_config.json"), new JsonObject { ["bos_token_id"] = 1, ["eos_token_id"] = 2 });

        var towerTensors = new List<(string, Tensor)>();
        var llamaTensors = new List<(string, Tensor)>();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (name.StartsWith("vision_tower.", StringComparison.Ordinal))
            {
                towerTensors.Add((name["vision_tower.".Length..], parameter));
            }
            else if (name.StartsWith("language_model.", StringComparison.Ordinal))
            {
                llamaTensors.Add((LlavaCheckpointWriter.ToOriginalKey(name), parameter));
            }
        }
        SafetensorsWriter.Write(Path.Combine(vision, "model.safetensors"), towerTensors, ScalarType.Float32);
        SafetensorsWriter.Write(Path.Combine(llama, "model.safetensors"), llamaTensors, ScalarType.Float32);
        WriteTokenizer(llama, LlavaLayout.Original);
        return (vision, llama);
    }

    /// <summary>
    /// Makes sure <paramref name="directory"/> holds the tiny model (llava-hf layout unless
    /// <paramref name="layout"/> says otherwise) and returns its full path. The folder is written
    /// beside the target and renamed into place; an existing complete folder is left as it is.
    /// </summary>
    public static string EnsureTiny(string directory, LlavaLayout layout = LlavaLayout.HuggingFace) =>
        IO.AtomicDirectory.Ensure(directory, d => Write(d, layout), d => IsComplete(d, layout));

    private static bool IsComplete(string directory, LlavaLayout layout)
    {
        string[] files = ["config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"];
        if (!files.All(f => File.Exists(Path.Combine(directory, f))))
        {
            return false;
        }
        return layout == LlavaLayout.HuggingFace
            ? File.Exists(Path.Combine(directory, "preprocessor_config.json"))
            : new[] { "config.json", "model.safetensors", "preprocessor_config.json" }.All(f => File.Exists(Path.Combine(directory, VisionFolderName, f)));
    }

    private static void WriteTokenizer(string directory, LlavaLayout layout)
    {
        using (var resource = typeof(TinyLlava).Assembly.GetManifestResourceStream("SynthVlm.Vlm.Tiny.tokenizer.model")
            ?? throw new InvalidOperationException("The embedded resource SynthVlm.Vlm.Tiny.tokenizer.model is missing from the assembly."))
        using (var file = File.Create(Path.Combine(directory, "tokenizer.model")))
        {
            resource.CopyTo(file);
        }
        var hf = layout == LlavaLayout.HuggingFace;
        var config = new JsonObject
        {
            ["tokenizer_class"] = "LlamaTokenizer",
            ["bos_token"] = "<s>",
            ["eos_token"] = "</s>",
            ["unk_token"] = "<unk>",
            // LLaVA's vicuna_v1 training pads with <unk> (tokenizer.pad_token = tokenizer.unk_token).
            ["pad_token"] = hf ? "<pad>" : "<unk>",
            ["add_bos_token"] = true,
            ["add_eos_token"] = false,
            ["legacy"] = true,
            ["model_max_length"] = MaxLength,
            ["padding_side"] = "right",
        };
        var map = new JsonObject
        {
            ["bos_token"] = "<s>",
            ["eos_token"] = "</s>",
            ["unk_token"] = "<unk>",
            ["pad_token"] = hf ? "<pad>" : "<unk>",
        };
        if (hf)
        {
            map["additional_special_tokens"] = new JsonArray("<image>");
            LlavaCheckpointWriter.WriteJson(Path.Combine(directory, "added_tokens.json"), new JsonObject { ["<image>"] = TokenizerPieces, ["<pad>"] = TokenizerPieces + 1 });
        }
        LlavaCheckpointWriter.WriteJson(Path.Combine(directory, "tokenizer_config.json"), config);
        LlavaCheckpointWriter.WriteJson(Path.Combine(directory, "special_tokens_map.json"), map);
    }
}
