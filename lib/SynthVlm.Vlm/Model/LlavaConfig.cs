using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SynthVlm.Vlm.Model;

/// <summary>Which on-disk layout a LLaVA model folder uses.</summary>
public enum LlavaLayout
{
    /// <summary>
    /// haotian-liu/LLaVA's own layout (liuhaotian/llava-v1.5-7b): a LLaMA checkpoint whose
    /// config.json is <c>LlavaLlamaForCausalLM</c> with <c>mm_*</c> fields, the projector under
    /// <c>model.mm_projector.{0,2}</c>, and the vision tower in a separate CLIP folder named by
    /// <c>mm_vision_tower</c>.
    /// </summary>
    Original,

    /// <summary>
    /// The llava-hf layout (llava-hf/llava-1.5-7b-hf) that transformers' LlavaForConditionalGeneration
    /// and vLLM read: one folder with <c>vision_config</c>/<c>text_config</c> and the weights under
    /// <c>vision_tower.</c>, <c>multi_modal_projector.</c> and <c>language_model.</c> (or, as
    /// transformers ≥ 4.52 saves them, <c>model.vision_tower.</c>, <c>model.multi_modal_projector.</c>,
    /// <c>model.language_model.</c> and <c>lm_head.</c>).
    /// </summary>
    HuggingFace,
}

/// <summary>The CLIP vision transformer's shape (transformers' CLIPVisionConfig).</summary>
/// <param name="HiddenSize">Width of the transformer (1024 for ViT-L/14).</param>
/// <param name="IntermediateSize">Width of the MLP (4096 for ViT-L/14).</param>
/// <param name="NumHiddenLayers">Encoder layers (24).</param>
/// <param name="NumAttentionHeads">Attention heads (16).</param>
/// <param name="ImageSize">Input side in pixels (336).</param>
/// <param name="PatchSize">Patch side in pixels (14).</param>
/// <param name="LayerNormEps">LayerNorm epsilon (1e-5).</param>
/// <param name="HiddenAct">The MLP activation; LLaVA's CLIP uses <c>quick_gelu</c>.</param>
public sealed record VisionTowerConfig(
    int HiddenSize,
    int IntermediateSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int ImageSize,
    int PatchSize,
    double LayerNormEps = 1e-5,
    string HiddenAct = "quick_gelu")
{
    /// <summary>Patches per image side.</summary>
    public int PatchesPerSide => ImageSize / PatchSize;

    /// <summary>Patch tokens per image (576 for 336/14).</summary>
    public int PatchCount => PatchesPerSide * PatchesPerSide;

    /// <summary>Positions, the class token included.</summary>
    public int PositionCount => PatchCount + 1;

    /// <summary>Reads the CLIPVisionConfig fields from a JSON object.</summary>
    public static VisionTowerConfig FromJson(JsonObject json, string source) => new(
        ConfigReader.Int(json, "hidden_size", source),
        ConfigReader.Int(json, "intermediate_size", source),
        ConfigReader.Int(json, "num_hidden_layers", source),
        ConfigReader.Int(json, "num_attention_heads", source),
        ConfigReader.Int(json, "image_size", source),
        ConfigReader.Int(json, "patch_size", source),
        ConfigReader.Double(json, "layer_norm_eps", source, 1e-5),
        ConfigReader.String(json, "hidden_act", source, "quick_gelu"));

    /// <summary>Writes the fields transformers reads back into a CLIPVisionConfig.</summary>
    public JsonObject ToJson() => new()
    {
        ["model_type"] = "clip_vision_model",
        ["hidden_size"] = HiddenSize,
        ["intermediate_size"] = IntermediateSize,
        ["num_hidden_layers"] = NumHiddenLayers,
        ["num_attention_heads"] = NumAttentionHeads,
        ["num_channels"] = 3,
        ["image_size"] = ImageSize,
        ["patch_size"] = PatchSize,
        ["layer_norm_eps"] = LayerNormEps,
        ["hidden_act"] = HiddenAct,
        ["projection_dim"] = HiddenSize,
    };
}

/// <summary>The LLaMA decoder's shape (transformers' LlamaConfig).</summary>
/// <param name="VocabSize">Rows of the embedding and of lm_head.</param>
/// <param name="HiddenSize">Model width (4096 for 7B).</param>
/// <param name="IntermediateSize">SwiGLU width (11008 for 7B).</param>
/// <param name="NumHiddenLayers">Decoder layers (32).</param>
/// <param name="NumAttentionHeads">Query heads (32).</param>
/// <param name="NumKeyValueHeads">Key/value heads; fewer than the query heads is grouped-query attention.</param>
/// <param name="MaxPositionEmbeddings">Context length the model was trained for (4096 for Vicuna v1.5).</param>
/// <param name="RmsNormEps">RMSNorm epsilon (1e-5 for Vicuna v1.5).</param>
/// <param name="RopeTheta">Rotary base (10000).</param>
/// <param name="TieWordEmbeddings">Whether lm_head shares the embedding matrix (false for LLaMA).</param>
public sealed record LlamaConfig(
    int VocabSize,
    int HiddenSize,
    int IntermediateSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int NumKeyValueHeads,
    int MaxPositionEmbeddings,
    double RmsNormEps = 1e-5,
    double RopeTheta = 10000,
    bool TieWordEmbeddings = false)
{
    /// <summary>Width of one attention head.</summary>
    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Reads the LlamaConfig fields from a JSON object.</summary>
    public static LlamaConfig FromJson(JsonObject json, string source)
    {
        var heads = ConfigReader.Int(json, "num_attention_heads", source);
        if (json["rope_scaling"] is JsonObject)
        {
            throw new VlmModelException($"{source}: rope_scaling is set; this LLaMA implementation supports plain rotary embeddings only (as Vicuna v1.5 uses).");
        }
        return new LlamaConfig(
            ConfigReader.Int(json, "vocab_size", source),
            ConfigReader.Int(json, "hidden_size", source),
            ConfigReader.Int(json, "intermediate_size", source),
            ConfigReader.Int(json, "num_hidden_layers", source),
            heads,
            ConfigReader.Int(json, "num_key_value_heads", source, heads),
            ConfigReader.Int(json, "max_position_embeddings", source, 4096),
            ConfigReader.Double(json, "rms_norm_eps", source, 1e-6),
            ConfigReader.Double(json, "rope_theta", source, 10000),
            ConfigReader.Bool(json, "tie_word_embeddings", source, false));
    }

    /// <summary>Writes the fields transformers reads back into a LlamaConfig.</summary>
    public JsonObject ToJson() => new()
    {
        ["model_type"] = "llama",
        ["architectures"] = new JsonArray("LlamaForCausalLM"),
        ["vocab_size"] = VocabSize,
        ["hidden_size"] = HiddenSize,
        ["intermediate_size"] = IntermediateSize,
        ["num_hidden_layers"] = NumHiddenLayers,
        ["num_attention_heads"] = NumAttentionHeads,
        ["num_key_value_heads"] = NumKeyValueHeads,
        ["max_position_embeddings"] = MaxPositionEmbeddings,
        ["rms_norm_eps"] = RmsNormEps,
        ["rope_theta"] = RopeTheta,
        ["hidden_act"] = "silu",
        ["tie_word_embeddings"] = TieWordEmbeddings,
    };
}

/// <summary>
/// A LLaVA-1.5 model's configuration, from either layout's config.json: the vision tower, the
/// projector, the LLaMA decoder and the multimodal settings LLaVA's code reads.
/// </summary>
/// <param name="Vision">The CLIP vision tower.</param>
/// <param name="Text">The LLaMA decoder.</param>
/// <param name="ProjectorType">LLaVA's <c>mm_projector_type</c>: <c>mlp2x_gelu</c> (LLaVA-1.5's; the one supported).</param>
/// <param name="VisionFeatureLayer">Which hidden state of the vision tower feeds the projector (-2: the second to last).</param>
/// <param name="DropClassToken">Whether the CLS position is dropped (LLaVA's <c>patch</c>, llava-hf's <c>default</c>).</param>
/// <param name="ImageTokenIndex">The id that marks the image in input ids: -200 in LLaVA's layout, the <c>&lt;image&gt;</c> token (32000) in llava-hf's.</param>
/// <param name="ImageAspectRatio">LLaVA's <c>image_aspect_ratio</c> (<c>pad</c> or <c>square</c>); null when the folder does not say.</param>
/// <param name="ModelMaxLength">Sequence length after the image is spliced in (LLaVA's <c>tokenizer_model_max_length</c>, else 2048).</param>
/// <param name="PadTokenId">The id used to pad input ids, when the folder names one.</param>
/// <param name="Layout">The layout the configuration came from.</param>
public sealed record LlavaConfig(
    VisionTowerConfig Vision,
    LlamaConfig Text,
    string ProjectorType,
    int VisionFeatureLayer,
    bool DropClassToken,
    int ImageTokenIndex,
    string? ImageAspectRatio,
    int ModelMaxLength,
    int? PadTokenId,
    LlavaLayout Layout)
{
    /// <summary>LLaVA's marker for the image in input ids (<c>IMAGE_TOKEN_INDEX</c>).</summary>
    public const int LlavaImageTokenIndex = Prompts.LlavaTokens.ImageTokenIndex;

    /// <summary>LLaVA's label for positions the loss ignores (<c>IGNORE_INDEX</c>).</summary>
    public const int IgnoreIndex = Prompts.LlavaTokens.IgnoreIndex;

    /// <summary>Image embeddings spliced in per image (576 for ViT-L/14-336 without CLS).</summary>
    public int ImageTokenCount => DropClassToken ? Vision.PatchCount : Vision.PositionCount;

    /// <summary>Hidden states of the vision tower the feature layer needs (the layers after it are never run).</summary>
    public int VisionLayersToRun
    {
        get
        {
            var index = VisionFeatureLayer < 0 ? Vision.NumHiddenLayers + 1 + VisionFeatureLayer : VisionFeatureLayer;
            return index;
        }
    }

    /// <summary>Whether <paramref name="id"/> marks the image: LLaVA's -200 or this layout's image token.</summary>
    public bool IsImageToken(long id) => id == LlavaImageTokenIndex || id == ImageTokenIndex;

    /// <summary>Checks the combination is one this implementation runs; throws naming the field otherwise.</summary>
    public void Validate(string source)
    {
        if (ProjectorType != "mlp2x_gelu")
        {
            throw new VlmModelException($"{source}: projector type '{ProjectorType}' is not supported (LLaVA-1.5's mlp2x_gelu is).");
        }
        if (Vision.HiddenAct is not ("quick_gelu" or "gelu"))
        {
            throw new VlmModelException($"{source}: vision hidden_act '{Vision.HiddenAct}' is not supported (expected quick_gelu or gelu).");
        }
        if (VisionLayersToRun < 0 || VisionLayersToRun > Vision.NumHiddenLayers)
        {
            throw new VlmModelException($"{source}: vision feature layer {VisionFeatureLayer} is outside the tower's {Vision.NumHiddenLayers} layers.");
        }
        if (Vision.ImageSize % Vision.PatchSize != 0 || Vision.HiddenSize % Vision.NumAttentionHeads != 0)
        {
            throw new VlmModelException($"{source}: vision image_size {Vision.ImageSize} / patch_size {Vision.PatchSize} / heads {Vision.NumAttentionHeads} do not divide.");
        }
        if (Text.HiddenSize % Text.NumAttentionHeads != 0 || Text.NumAttentionHeads % Text.NumKeyValueHeads != 0)
        {
            throw new VlmModelException($"{source}: text hidden_size {Text.HiddenSize}, heads {Text.NumAttentionHeads} and key/value heads {Text.NumKeyValueHeads} do not divide.");
        }
    }

    /// <summary>
    /// Reads a LLaVA-layout config.json (<c>LlavaLlamaForCausalLM</c>); the vision tower's own
    /// config.json (a CLIPModel's or CLIPVisionModel's) supplies the vision shape.
    /// </summary>
    public static LlavaConfig FromOriginal(JsonObject config, JsonObject visionTowerConfig, string source, string visionSource)
    {
        var visionJson = visionTowerConfig["vision_config"] as JsonObject ?? visionTowerConfig;
        var selectFeature = ConfigReader.String(config, "mm_vision_select_feature", source, "patch");
        if (selectFeature is not ("patch" or "cls_patch"))
        {
            throw new VlmModelException($"{source}: mm_vision_select_feature '{selectFeature}' is not supported (expected patch or cls_patch).");
        }
        var result = new LlavaConfig(
            VisionTowerConfig.FromJson(visionJson, visionSource),
            LlamaConfig.FromJson(config, source),
            ConfigReader.String(config, "mm_projector_type", source, "linear"),
            ConfigReader.Int(config, "mm_vision_select_layer", source, -2),
            selectFeature == "patch",
            LlavaImageTokenIndex,
            config["image_aspect_ratio"]?.GetValue<string>(),
            ConfigReader.Int(config, "tokenizer_model_max_length", source, 2048),
            config["pad_token_id"] is JsonValue pad ? pad.GetValue<int>() : null,
            LlavaLayout.Original);
        if (ConfigReader.Int(config, "mm_hidden_size", source, result.Vision.HiddenSize) != result.Vision.HiddenSize)
        {
            throw new VlmModelException($"{source}: mm_hidden_size {config["mm_hidden_size"]} does not match the vision tower's hidden_size {result.Vision.HiddenSize} ({visionSource}).");
        }
        if (ConfigReader.Bool(config, "mm_use_im_start_end", source, false))
        {
            throw new VlmModelException($"{source}: mm_use_im_start_end is true; LLaVA-1.5 does not use image start/end tokens and this implementation does not either.");
        }
        result.Validate(source);
        return result;
    }

    /// <summary>Reads a llava-hf config.json (<c>LlavaForConditionalGeneration</c>).</summary>
    public static LlavaConfig FromHuggingFace(JsonObject config, string source)
    {
        var vision = config["vision_config"] as JsonObject
            ?? throw new VlmModelException($"{source}: no vision_config object.");
        var text = config["text_config"] as JsonObject
            ?? throw new VlmModelException($"{source}: no text_config object.");
        var act = ConfigReader.String(config, "projector_hidden_act", source, "gelu");
        if (act != "gelu")
        {
            throw new VlmModelException($"{source}: projector_hidden_act '{act}' is not supported (expected gelu).");
        }
        var strategy = ConfigReader.String(config, "vision_feature_select_strategy", source, "default");
        if (strategy is not ("default" or "full"))
        {
            throw new VlmModelException($"{source}: vision_feature_select_strategy '{strategy}' is not supported (expected default or full).");
        }
        // text_config written by older transformers omits fields that equal LlamaConfig's defaults.
        var textWithDefaults = new JsonObject
        {
            ["vocab_size"] = 32000,
            ["hidden_size"] = 4096,
            ["intermediate_size"] = 11008,
            ["num_hidden_layers"] = 32,
            ["num_attention_heads"] = 32,
            ["max_position_embeddings"] = 4096,
            ["rms_norm_eps"] = 1e-5,
        };
        foreach (var (key, value) in text)
        {
            textWithDefaults[key] = value?.DeepClone();
        }
        if (config["vocab_size"] is JsonValue && text["vocab_size"] is null)
        {
            textWithDefaults["vocab_size"] = config["vocab_size"]!.DeepClone();
        }
        var featureLayer = config["vision_feature_layer"] switch
        {
            JsonArray => throw new VlmModelException($"{source}: vision_feature_layer lists several layers; LLaVA-1.5 uses one."),
            JsonValue v => v.GetValue<int>(),
            _ => -2,
        };
        var result = new LlavaConfig(
            VisionTowerConfig.FromJson(vision, source + " vision_config"),
            LlamaConfig.FromJson(textWithDefaults, source + " text_config"),
            ConfigReader.Bool(config, "multimodal_projector_bias", source, true) ? "mlp2x_gelu" : "mlp2x_gelu_nobias",
            featureLayer,
            strategy == "default",
            ConfigReader.Int(config, "image_token_index", source, ConfigReader.Int(config, "image_token_id", source, 32000)),
            null,
            ConfigReader.Int(config, "tokenizer_model_max_length", source, 2048),
            config["pad_token_id"] is JsonValue pad ? pad.GetValue<int>() : text["pad_token_id"] is JsonValue tpad ? tpad.GetValue<int>() : null,
            LlavaLayout.HuggingFace);
        result.Validate(source);
        return result;
    }

    /// <summary>The llava-hf config.json for this model (what transformers' LlavaConfig reads).</summary>
    public JsonObject ToHuggingFaceJson(int? padTokenId = null)
    {
        var text = Text.ToJson();
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray("LlavaForConditionalGeneration"),
            ["model_type"] = "llava",
            ["ignore_index"] = IgnoreIndex,
            ["image_token_index"] = ImageTokenIndex,
            ["projector_hidden_act"] = "gelu",
            ["multimodal_projector_bias"] = true,
            ["vision_feature_layer"] = VisionFeatureLayer,
            ["vision_feature_select_strategy"] = DropClassToken ? "default" : "full",
            ["image_seq_length"] = ImageTokenCount,
            ["tokenizer_model_max_length"] = ModelMaxLength,
            ["tie_word_embeddings"] = Text.TieWordEmbeddings,
            ["torch_dtype"] = "float32",
            ["vision_config"] = Vision.ToJson(),
            ["text_config"] = text,
        };
        if ((padTokenId ?? PadTokenId) is { } pad)
        {
            json["pad_token_id"] = pad;
            text["pad_token_id"] = pad;
        }
        return json;
    }
}

/// <summary>Typed reads of config.json fields with errors that name the file and the key.</summary>
internal static class ConfigReader
{
    public static JsonObject ReadObject(string path)
    {
        if (!File.Exists(path))
        {
            throw new VlmModelException($"{path}: file not found.");
        }
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new VlmModelException($"{path}: not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new VlmModelException($"{path}: not valid JSON ({e.Message}).", e);
        }
    }

    public static int Int(JsonObject json, string key, string source, int? fallback = null)
    {
        if (json[key] is not JsonValue value)
        {
            return fallback ?? throw new VlmModelException($"{source}: required field '{key}' is missing.");
        }
        if (value.TryGetValue<int>(out var i))
        {
            return i;
        }
        if (value.TryGetValue<double>(out var d) && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue)
        {
            return (int)d;
        }
        throw new VlmModelException($"{source}: field '{key}' should be an integer, found {value.ToJsonString()}.");
    }

    public static double Double(JsonObject json, string key, string source, double fallback)
    {
        if (json[key] is not JsonValue value)
        {
            return fallback;
        }
        if (value.TryGetValue<double>(out var d))
        {
            return d;
        }
        if (value.TryGetValue<string>(out var s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out d))
        {
            return d;
        }
        throw new VlmModelException($"{source}: field '{key}' should be a number, found {value.ToJsonString()}.");
    }

    public static string String(JsonObject json, string key, string source, string fallback) =>
        json[key] switch
        {
            null => fallback,
            JsonValue v when v.TryGetValue<string>(out var s) => s,
            var other => throw new VlmModelException($"{source}: field '{key}' should be a string, found {other.ToJsonString()}."),
        };

    public static bool Bool(JsonObject json, string key, string source, bool fallback) =>
        json[key] switch
        {
            null => fallback,
            JsonValue v when v.TryGetValue<bool>(out var b) => b,
            var other => throw new VlmModelException($"{source}: field '{key}' should be true or false, found {other.ToJsonString()}."),
        };
}
