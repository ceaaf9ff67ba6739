using System.Collections;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Model;

/// <summary>How <see cref="LlavaCheckpointWriter"/> writes a model folder.</summary>
public sealed record LlavaSaveOptions
{
    /// <summary>Dtype of the saved weights (Float32, Float16 or BFloat16); null keeps the model's.</summary>
    public ScalarType? DType { get; init; }

    /// <summary>
    /// Largest shard in bytes (transformers' <c>max_shard_size</c>, default 5 GB). A model that fits
    /// is one <c>model.safetensors</c>; otherwise <c>model-00001-of-0000N.safetensors</c> shards and
    /// <c>model.safetensors.index.json</c>. A tensor larger than the limit gets a shard of its own.
    /// </summary>
    public long MaxShardBytes { get; init; } = 5_000_000_000;

    /// <summary>Folder whose tokenizer files (tokenizer.model, tokenizer_config.json, special_tokens_map.json, added_tokens.json, tokenizer.json) are copied; null writes none.</summary>
    public string? TokenizerDirectory { get; init; }

    /// <summary>preprocessor_config.json to copy; null writes CLIP's settings at the tower's image size.</summary>
    public string? PreprocessorConfigPath { get; init; }

    /// <summary>Beginning-of-sequence id for generation_config.json (LLaMA's 1).</summary>
    public int BosTokenId { get; init; } = 1;

    /// <summary>End-of-sequence id for generation_config.json (LLaMA's 2).</summary>
    public int EosTokenId { get; init; } = 2;

    /// <summary>LLaVA's layout: name of the CLIP folder written inside the model folder (config's <c>mm_vision_tower</c>).</summary>
    public string VisionTowerFolderName { get; init; } = "clip_vision_tower";

    /// <summary>LLaVA's layout: <c>image_aspect_ratio</c> when the model's configuration has none.</summary>
    public string ImageAspectRatio { get; init; } = "pad";
}

/// <summary>
/// Saves a <see cref="LlavaModel"/> in the layouts the ecosystem reads: llava-hf's (transformers'
/// <c>LlavaForConditionalGeneration</c>, vLLM), LLaVA's own (<c>LlavaLlamaForCausalLM</c> plus a
/// separate CLIP folder), and LLaVA's stage-1 projector file <c>mm_projector.bin</c>.
/// </summary>
public static class LlavaCheckpointWriter
{
    private static readonly string[] TokenizerFiles = ["tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "tokenizer.json"];

    /// <summary>
    /// Writes the llava-hf layout into <paramref name="directory"/>:
    /// <list type="bullet">
    /// <item><c>config.json</c>: <see cref="LlavaConfig.ToHuggingFaceJson"/> — transformers' LlavaConfig fields
    /// (<c>image_token_index</c>, <c>projector_hidden_act</c>, <c>vision_feature_layer</c>,
    /// <c>vision_feature_select_strategy</c>, <c>image_seq_length</c>, <c>multimodal_projector_bias</c>,
    /// <c>pad_token_id</c>, <c>torch_dtype</c>), <c>vision_config</c> with CLIPVisionConfig's fields and
    /// <c>text_config</c> with LlamaConfig's.</item>
    /// <item>Weights under the classic llava-hf keys, which every transformers version (≥ 4.52 converts them
    /// on load) and vLLM read: <c>vision_tower.vision_model.*</c>, <c>multi_modal_projector.linear_{1,2}.{weight,bias}</c>,
    /// <c>language_model.model.*</c>, <c>language_model.lm_head.weight</c>; one <c>model.safetensors</c> or
    /// shards named as transformers names them with <c>model.safetensors.index.json</c>
    /// (<c>metadata.total_size</c> = bytes of tensor data, <c>weight_map</c> key → shard).</item>
    /// <item><c>generation_config.json</c> (bos, eos, pad ids), <c>preprocessor_config.json</c>, and the tokenizer files.</item>
    /// </list>
    /// A model from LLaVA's layout (image marker -200, no <c>&lt;image&gt;</c> in the vocabulary) is converted
    /// as transformers' convert_llava_weights_to_hf.py does: <c>&lt;image&gt;</c> and <c>&lt;pad&gt;</c> become ids
    /// vocab and vocab + 1 (added_tokens.json, tokenizer_config.json, special_tokens_map.json; a copied
    /// tokenizer.json would not know them and is left out), embed_tokens and lm_head grow to the next
    /// multiple of 64 rows, and <c>image_token_index</c>/<c>pad_token_id</c> are set. The script fills the new
    /// rows with samples of a normal distribution around the mean of the old rows (covariance 1e-5 times
    /// theirs); this writer uses the mean itself, so the result is deterministic.
    /// </summary>
    /// <exception cref="VlmModelException">A file to copy is missing or the options are unusable; the message names it.</exception>
    public static void SaveHuggingFace(LlavaModel model, string directory, LlavaSaveOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new LlavaSaveOptions();
        var dtype = options.DType ?? model.DType;
        SafetensorsWriter.DTypeName(dtype);
        Directory.CreateDirectory(directory);

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var config = model.Config;
        var tensors = model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).ToList();
        var convert = config.ImageTokenIndex < 0;
        if (convert)
        {
            var vocab = config.Text.VocabSize;
            var grown = (vocab + 2 + 63) / 64 * 64;
            for (var i = 0; i < tensors.Count; i++)
            {
                if (tensors[i].Item1 is "language_model.model.embed_tokens.weight" or "language_model.lm_head.weight")
                {
                    var old = tensors[i].Item2.to_type(ScalarType.Float32);
                    var mean = old.mean([0], keepdim: true).expand(grown - vocab, -1);
                    tensors[i] = (tensors[i].Item1, cat([old, mean], 0));
                }
            }
            config = config with
            {
                Text = config.Text with { VocabSize = grown },
                ImageTokenIndex = vocab,
                PadTokenId = vocab + 1,
                Layout = LlavaLayout.HuggingFace,
            };
        }
        var json = config.ToHuggingFaceJson();
        json["torch_dtype"] = TorchDTypeName(dtype);
        WriteJson(Path.Combine(directory, "config.json"), json);
        WriteWeights(directory, tensors, dtype, options.MaxShardBytes);
        WriteGenerationConfig(directory, options, config.PadTokenId);
        WritePreprocessorConfig(Path.Combine(directory, "preprocessor_config.json"), options.PreprocessorConfigPath, config.Vision.ImageSize);
        if (options.TokenizerDirectory is { } tokenizer)
        {
            if (convert)
            {
                CopyTokenizerAddingImageAndPad(tokenizer, directory, config.ImageTokenIndex);
            }
            else
            {
                CopyTokenizer(tokenizer, directory);
            }
        }
    }

    /// <summary>
    /// Writes LLaVA's own layout into <paramref name="directory"/>: config.json of
    /// <c>LlavaLlamaForCausalLM</c> (LlamaConfig's fields plus <c>mm_vision_tower</c>, <c>mm_hidden_size</c>,
    /// <c>mm_projector_type</c>, <c>mm_vision_select_layer</c>, <c>mm_vision_select_feature</c>,
    /// <c>mm_use_im_start_end</c>, <c>mm_use_im_patch_token</c>, <c>image_aspect_ratio</c>,
    /// <c>tokenizer_model_max_length</c>, <c>tokenizer_padding_side</c>, as LLaVA's train.py sets them),
    /// weights under <c>model.*</c>, <c>lm_head.weight</c> and <c>model.mm_projector.{0,2}.*</c>, the tokenizer
    /// files, and the CLIP vision tower as its own folder (<see cref="LlavaSaveOptions.VisionTowerFolderName"/>,
    /// named relatively by <c>mm_vision_tower</c>): a CLIPVisionConfig config.json, <c>vision_model.*</c>
    /// weights and preprocessor_config.json. LLaVA's own code opens <c>mm_vision_tower</c> as a hub id or
    /// a path relative to its working directory; <see cref="LlavaModelFolder.Open"/> also looks inside the
    /// model folder, so the folder is self-contained for SynthVlm (for LLaVA, set the field to an absolute
    /// path or pass the tower explicitly).
    /// </summary>
    /// <exception cref="VlmModelException">A file to copy is missing or the options are unusable; the message names it.</exception>
    public static void SaveOriginal(LlavaModel model, string directory, LlavaSaveOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new LlavaSaveOptions();
        var dtype = options.DType ?? model.DType;
        SafetensorsWriter.DTypeName(dtype);
        var config = model.Config;
        var towerDirectory = Path.Combine(directory, options.VisionTowerFolderName);
        Directory.CreateDirectory(towerDirectory);

        var json = config.Text.ToJson();
        json["architectures"] = new JsonArray("LlavaLlamaForCausalLM");
        json["model_type"] = "llava_llama";
        json["torch_dtype"] = TorchDTypeName(dtype);
        json["bos_token_id"] = options.BosTokenId;
        json["eos_token_id"] = options.EosTokenId;
        if (config.PadTokenId is { } pad)
        {
            json["pad_token_id"] = pad;
        }
        json["mm_vision_tower"] = options.VisionTowerFolderName;
        json["mm_hidden_size"] = config.Vision.HiddenSize;
        json["mm_projector_type"] = config.ProjectorType;
        json["mm_vision_select_layer"] = config.VisionFeatureLayer;
        json["mm_vision_select_feature"] = config.DropClassToken ? "patch" : "cls_patch";
        json["mm_use_im_start_end"] = false;
        json["mm_use_im_patch_token"] = false;
        json["mm_patch_merge_type"] = "flat";
        json["image_aspect_ratio"] = config.ImageAspectRatio ?? options.ImageAspectRatio;
        json["tokenizer_model_max_length"] = config.ModelMaxLength;
        json["tokenizer_padding_side"] = "right";
        json["use_mm_proj"] = true;
        WriteJson(Path.Combine(directory, "config.json"), json);

        var language = new List<(string, Tensor)>();
        var vision = new List<(string, Tensor)>();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (name.StartsWith("vision_tower.", StringComparison.Ordinal))
            {
                vision.Add((name["vision_tower.".Length..], parameter));
            }
            else
            {
                language.Add((ToOriginalKey(name), parameter));
            }
        }
        WriteWeights(directory, language, dtype, options.MaxShardBytes);
        WriteGenerationConfig(directory, options, config.PadTokenId);
        if (options.TokenizerDirectory is { } tokenizer)
        {
            CopyTokenizer(tokenizer, directory);
        }

        var towerJson = config.Vision.ToJson();
        towerJson["architectures"] = new JsonArray("CLIPVisionModel");
        towerJson["torch_dtype"] = TorchDTypeName(dtype);
        WriteJson(Path.Combine(towerDirectory, "config.json"), towerJson);
        WriteWeights(towerDirectory, vision, dtype, options.MaxShardBytes);
        WritePreprocessorConfig(Path.Combine(towerDirectory, "preprocessor_config.json"), options.PreprocessorConfigPath, config.Vision.ImageSize);
    }

    /// <summary>
    /// Writes the projector alone as LLaVA's stage-1 <c>mm_projector.bin</c> does (a PyTorch pickle of
    /// <c>model.mm_projector.0.weight</c>, <c>.0.bias</c>, <c>.2.weight</c>, <c>.2.bias</c>; what
    /// <c>--pretrain_mm_mlp_adapter</c> reads), in the model's dtype unless <paramref name="dtype"/> says otherwise.
    /// </summary>
    public static void SaveProjector(LlavaModel model, string path, ScalarType? dtype = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var type = dtype ?? model.DType;
        SafetensorsWriter.DTypeName(type);
        using var scope = NewDisposeScope();
        var dict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (name.StartsWith("multi_modal_projector.", StringComparison.Ordinal))
            {
                dict[ToOriginalKey(name)] = parameter.detach().to(CPU).to_type(type).contiguous();
            }
        }
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        Directory.CreateDirectory(folder!);
        PyTorchPickler.PickleStateDict(path, dict);
    }

    /// <summary>
    /// Loads a projector file (LLaVA's <c>mm_projector.bin</c>: keys ending in <c>mm_projector.0.weight</c>,
    /// <c>.0.bias</c>, <c>.2.weight</c>, <c>.2.bias</c>, as LLaVA's <c>pretrain_mm_mlp_adapter</c> accepts
    /// them) into <paramref name="model"/>'s projector.
    /// </summary>
    /// <exception cref="VlmModelException">The file is missing, lacks one of the four tensors or has one of another shape; the message names it.</exception>
    public static void LoadProjector(LlavaModel model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new VlmModelException($"{path}: projector file not found.");
        }
        var parameters = model.named_parameters()
            .Where(p => p.name.StartsWith("multi_modal_projector.", StringComparison.Ordinal))
            .ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);
        Hashtable all;
        try
        {
            all = PyTorchUnpickler.UnpickleStateDict(path);
        }
        catch (Exception e) when (e is not VlmModelException)
        {
            throw new VlmModelException($"{path}: not a PyTorch state dict ({e.Message}).", e);
        }
        var tensors = new Dictionary<string, (string Key, Tensor Tensor)>(StringComparer.Ordinal);
        try
        {
            foreach (DictionaryEntry entry in all)
            {
                var key = (string)entry.Key;
                if (entry.Value is not Tensor tensor)
                {
                    continue;
                }
                var at = key.LastIndexOf("mm_projector.", StringComparison.Ordinal);
                var target = at < 0 ? null : FromProjectorSuffix(key[(at + "mm_projector.".Length)..]);
                if (target is null || !parameters.ContainsKey(target))
                {
                    tensor.Dispose();
                    continue;
                }
                tensors[target] = (key, tensor);
            }
            var problems = new List<string>();
            foreach (var (name, parameter) in parameters)
            {
                if (!tensors.TryGetValue(name, out var found))
                {
                    problems.Add($"missing tensor mm_projector.{(name.Contains("linear_1", StringComparison.Ordinal) ? "0" : "2")}.{name[(name.LastIndexOf('.') + 1)..]}");
                }
                else if (!found.Tensor.shape.SequenceEqual(parameter.shape))
                {
                    problems.Add($"{found.Key} has shape [{string.Join(", ", found.Tensor.shape)}], the model needs [{string.Join(", ", parameter.shape)}]");
                }
            }
            if (problems.Count > 0)
            {
                throw new VlmModelException($"{path}: the projector does not match the model: {string.Join("; ", problems)}.");
            }
            using var noGrad = no_grad();
            foreach (var (name, parameter) in parameters)
            {
                parameter.copy_(tensors[name].Tensor);
            }
        }
        finally
        {
            foreach (var (_, tensor) in tensors.Values)
            {
                tensor.Dispose();
            }
        }
    }

    /// <summary>CLIP's image processor settings (transformers' CLIPImageProcessor) at a square <paramref name="size"/>.</summary>
    internal static JsonObject ClipPreprocessorConfig(int size) => new()
    {
        ["image_processor_type"] = "CLIPImageProcessor",
        ["do_resize"] = true,
        ["size"] = new JsonObject { ["shortest_edge"] = size },
        ["resample"] = 3,
        ["do_center_crop"] = true,
        ["crop_size"] = new JsonObject { ["height"] = size, ["width"] = size },
        ["do_rescale"] = true,
        ["rescale_factor"] = 1 / 255.0,
        ["do_normalize"] = true,
        ["image_mean"] = new JsonArray(0.48145466, 0.4578275, 0.40821073),
        ["image_std"] = new JsonArray(0.26862954, 0.26130258, 0.27577711),
        ["do_convert_rgb"] = true,
    };

    internal static void WriteJson(string path, JsonNode json) =>
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");

    /// <summary>The key LLaVA's layout uses for a model parameter (vision tower excluded).</summary>
    internal static string ToOriginalKey(string name) => name switch
    {
        _ when name.StartsWith("multi_modal_projector.linear_1.", StringComparison.Ordinal) => "model.mm_projector.0." + name["multi_modal_projector.linear_1.".Length..],
        _ when name.StartsWith("multi_modal_projector.linear_2.", StringComparison.Ordinal) => "model.mm_projector.2." + name["multi_modal_projector.linear_2.".Length..],
        _ when name.StartsWith("language_model.", StringComparison.Ordinal) => name["language_model.".Length..],
        _ => throw new ArgumentException($"parameter {name} has no key in LLaVA's layout.", nameof(name)),
    };

    private static string? FromProjectorSuffix(string suffix) => suffix switch
    {
        "0.weight" => "multi_modal_projector.linear_1.weight",
        "0.bias" => "multi_modal_projector.linear_1.bias",
        "2.weight" => "multi_modal_projector.linear_2.weight",
        "2.bias" => "multi_modal_projector.linear_2.bias",
        _ => null,
    };

    private static string TorchDTypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        _ => "float32",
    };

    /// <summary>One model.safetensors, or shards of at most <paramref name="maxShardBytes"/> and their index (transformers' naming).</summary>
    private static void WriteWeights(string directory, List<(string Key, Tensor Tensor)> tensors, ScalarType dtype, long maxShardBytes)
    {
        if (maxShardBytes <= 0)
        {
            throw new VlmModelException($"{directory}: maximum shard size {maxShardBytes} must be positive.");
        }
        var shards = new List<List<(string, Tensor)>>();
        var current = new List<(string, Tensor)>();
        long currentBytes = 0;
        long total = 0;
        foreach (var item in tensors)
        {
            var size = item.Tensor.numel() * SafetensorsWriter.ElementSize(dtype);
            if (current.Count > 0 && currentBytes + size > maxShardBytes)
            {
                shards.Add(current);
                current = [];
                currentBytes = 0;
            }
            current.Add(item);
            currentBytes += size;
            total += size;
        }
        if (current.Count > 0)
        {
            shards.Add(current);
        }
        if (shards.Count <= 1)
        {
            SafetensorsWriter.Write(Path.Combine(directory, "model.safetensors"), current, dtype);
            return;
        }
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < shards.Count; i++)
        {
            var file = string.Format(CultureInfo.InvariantCulture, "model-{0:D5}-of-{1:D5}.safetensors", i + 1, shards.Count);
            SafetensorsWriter.Write(Path.Combine(directory, file), shards[i], dtype);
            foreach (var (key, _) in shards[i])
            {
                weightMap[key] = file;
            }
        }
        var map = new JsonObject();
        foreach (var (key, file) in weightMap)
        {
            map[key] = file;
        }
        WriteJson(Path.Combine(directory, "model.safetensors.index.json"), new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = total },
            ["weight_map"] = map,
        });
    }

    private static void WriteGenerationConfig(string directory, LlavaSaveOptions options, int? pad)
    {
        var json = new JsonObject
        {
            ["_from_model_config"] = true,
            ["bos_token_id"] = options.BosTokenId,
            ["eos_token_id"] = options.EosTokenId,
        };
        if (pad is { } p)
        {
            json["pad_token_id"] = p;
        }
        WriteJson(Path.Combine(directory, "generation_config.json"), json);
    }

    private static void WritePreprocessorConfig(string path, string? source, int imageSize)
    {
        if (source is null)
        {
            WriteJson(path, ClipPreprocessorConfig(imageSize));
            return;
        }
        if (!File.Exists(source))
        {
            throw new VlmModelException($"{source}: preprocessor config to copy not found.");
        }
        File.Copy(source, path, overwrite: true);
    }

    private static void CopyTokenizer(string source, string directory)
    {
        if (!File.Exists(Path.Combine(source, "tokenizer.model")))
        {
            throw new VlmModelException($"{source}: no tokenizer.model to copy.");
        }
        foreach (var name in TokenizerFiles)
        {
            var from = Path.Combine(source, name);
            if (File.Exists(from) && Path.GetFullPath(from) != Path.GetFullPath(Path.Combine(directory, name)))
            {
                File.Copy(from, Path.Combine(directory, name), overwrite: true);
            }
        }
    }

    private static void CopyTokenizerAddingImageAndPad(string source, string directory, int imageId)
    {
        var model = Path.Combine(source, "tokenizer.model");
        if (!File.Exists(model))
        {
            throw new VlmModelException($"{source}: no tokenizer.model to copy.");
        }
        File.Copy(model, Path.Combine(directory, "tokenizer.model"), overwrite: true);
        var configPath = Path.Combine(source, "tokenizer_config.json");
        var tokenizerConfig = File.Exists(configPath) ? ConfigReader.ReadObject(configPath) : new JsonObject { ["tokenizer_class"] = "LlamaTokenizer" };
        var decoder = tokenizerConfig["added_tokens_decoder"] as JsonObject ?? [];
        decoder[imageId.ToString(CultureInfo.InvariantCulture)] = AddedToken("<image>");
        decoder[(imageId + 1).ToString(CultureInfo.InvariantCulture)] = AddedToken("<pad>");
        tokenizerConfig["added_tokens_decoder"] = decoder;
        tokenizerConfig["pad_token"] = "<pad>";
        WriteJson(Path.Combine(directory, "tokenizer_config.json"), tokenizerConfig);
        var mapPath = Path.Combine(source, "special_tokens_map.json");
        var map = File.Exists(mapPath) ? ConfigReader.ReadObject(mapPath) : new JsonObject { ["bos_token"] = "<s>", ["eos_token"] = "</s>", ["unk_token"] = "<unk>" };
        map["pad_token"] = "<pad>";
        map["additional_special_tokens"] = new JsonArray("<image>");
        WriteJson(Path.Combine(directory, "special_tokens_map.json"), map);
        WriteJson(Path.Combine(directory, "added_tokens.json"), new JsonObject { ["<image>"] = imageId, ["<pad>"] = imageId + 1 });
    }

    private static JsonObject AddedToken(string content) => new()
    {
        ["content"] = content,
        ["lstrip"] = false,
        ["normalized"] = false,
        ["rstrip"] = false,
        ["single_word"] = false,
        ["special"] = true,
    };
}
