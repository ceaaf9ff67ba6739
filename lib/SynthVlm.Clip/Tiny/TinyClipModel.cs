using System.Text.Json;
using SynthVlm.Onnx.Builder;

namespace SynthVlm.Clip.Tiny;

/// <summary>
/// Builds the tiny random CLIP as one ONNX graph with exactly the I/O contract of optimum's
/// export of <c>openai/clip-vit-base-patch32</c> (HF <c>CLIPModel</c>): inputs
/// <c>input_ids</c>, <c>attention_mask</c>, <c>pixel_values</c>; outputs
/// <c>logits_per_image</c>, <c>logits_per_text</c>, <c>text_embeds</c>, <c>image_embeds</c>
/// (embeddings L2-normalised, logits = e^logit_scale·cos). The architecture follows HF CLIP:
/// causal pre-LN text encoder pooled at the EOS position (argmax of the ids), ViT with a
/// class token, <c>pre_layrnorm</c> and <c>post_layernorm</c>, bias-free projections.
/// </summary>
public static class TinyClipModel
{
    /// <summary>Graph input: token ids, int64 [text_batch_size, sequence_length].</summary>
    public const string InputIds = "input_ids";

    /// <summary>Graph input: 1 for tokens, 0 for padding, int64 [text_batch_size, sequence_length].</summary>
    public const string AttentionMask = "attention_mask";

    /// <summary>Graph input: normalised pixels, float32 [image_batch_size, 3, size, size].</summary>
    public const string PixelValues = "pixel_values";

    /// <summary>Graph output: float32 [image_batch_size, text_batch_size].</summary>
    public const string LogitsPerImage = "logits_per_image";

    /// <summary>Graph output: float32 [text_batch_size, image_batch_size].</summary>
    public const string LogitsPerText = "logits_per_text";

    /// <summary>Graph output: L2-normalised, float32 [text_batch_size, projection_dim].</summary>
    public const string TextEmbeds = "text_embeds";

    /// <summary>Graph output: L2-normalised, float32 [image_batch_size, projection_dim].</summary>
    public const string ImageEmbeds = "image_embeds";

    /// <summary>Dynamic axis name of the text batch, as optimum writes it.</summary>
    public const string TextBatchAxis = "text_batch_size";

    /// <summary>Dynamic axis name of the token sequence, as optimum writes it.</summary>
    public const string SequenceAxis = "sequence_length";

    /// <summary>Dynamic axis name of the image batch, as optimum writes it.</summary>
    public const string ImageBatchAxis = "image_batch_size";

    /// <summary>File name of the graph inside a model folder.</summary>
    public const string ModelFileName = "model.onnx";

    /// <summary>File name of the HF <c>CLIPConfig</c>.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>File name of the HF <c>CLIPImageProcessor</c> settings.</summary>
    public const string PreprocessorConfigFileName = "preprocessor_config.json";

    /// <summary>Opset of the graph: 17 for LayerNormalization.</summary>
    public const long Opset = 17;

    /// <summary>CLIP's per-channel pixel mean (RGB).</summary>
    public static IReadOnlyList<double> ImageMean { get; } = [0.48145466, 0.4578275, 0.40821073];

    /// <summary>CLIP's per-channel pixel standard deviation (RGB).</summary>
    public static IReadOnlyList<double> ImageStd { get; } = [0.26862954, 0.26130258, 0.27577711];

    /// <summary>The graph for <paramref name="config"/> with weights generated from its seed.</summary>
    public static OnnxModelBuilder Build(TinyClipConfig config) => Build(TinyClipWeights.Generate(config));

    /// <summary>The graph for explicit weights (their <see cref="TinyClipWeights.Config"/> gives the sizes).</summary>
    public static OnnxModelBuilder Build(TinyClipWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var config = weights.Config;
        config.Validate();
        var b = new OnnxModelBuilder("tiny_clip", Opset);

        var ids = b.Input(InputIds, TensorDataType.Int64, TextBatchAxis, SequenceAxis);
        var mask = b.Input(AttentionMask, TensorDataType.Int64, TextBatchAxis, SequenceAxis);
        var pixels = b.Input(PixelValues, TensorDataType.Float, ImageBatchAxis, 3, config.ImageSize, config.ImageSize);

        var textEmbeds = b.Identity(b.L2Normalize(TextTower(b, ids, mask, weights)), TextEmbeds);
        var imageEmbeds = b.Identity(b.L2Normalize(VisionTower(b, pixels, weights)), ImageEmbeds);

        var scale = b.Exp(b.Initializer("logit_scale", (ReadOnlySpan<float>)[config.LogitScale]));
        var cosine = b.MatMul(textEmbeds, b.Transpose(imageEmbeds, 1, 0));
        var perText = b.Node("Mul", [cosine, scale], outputs: [LogitsPerText])[0];
        var perImage = b.Node("Transpose", [perText], 1, [NodeAttribute.Ints("perm", 1, 0)], outputs: [LogitsPerImage])[0];

        b.Output(perImage, TensorDataType.Float, ImageBatchAxis, TextBatchAxis);
        b.Output(perText, TensorDataType.Float, TextBatchAxis, ImageBatchAxis);
        b.Output(textEmbeds, TensorDataType.Float, TextBatchAxis, config.ProjectionDim);
        b.Output(imageEmbeds, TensorDataType.Float, ImageBatchAxis, config.ProjectionDim);
        return b;
    }

    /// <summary>
    /// Writes a model folder: <c>model.onnx</c>, <c>config.json</c> (HF <c>CLIPConfig</c>) and
    /// <c>preprocessor_config.json</c> (HF <c>CLIPImageProcessor</c>). Tokenizer files are not
    /// written here; the tokenizer's vocabulary must have <see cref="TinyClipConfig.VocabSize"/> ids.
    /// </summary>
    public static void WriteFolder(string directory, TinyClipConfig config)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Directory.CreateDirectory(directory);
        Build(config).Save(Path.Combine(directory, ModelFileName));
        File.WriteAllBytes(Path.Combine(directory, ConfigFileName), ConfigJson(config));
        File.WriteAllBytes(Path.Combine(directory, PreprocessorConfigFileName), PreprocessorConfigJson(config));
    }

    /// <summary>The HF <c>CLIPConfig</c> JSON of <paramref name="config"/> (UTF-8, indented).</summary>
    public static byte[] ConfigJson(TinyClipConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return Json(w =>
        {
            w.WriteStartArray("architectures");
            w.WriteStringValue("CLIPModel");
            w.WriteEndArray();
            w.WriteString("model_type", "clip");
            w.WriteNumber("projection_dim", config.ProjectionDim);
            w.WriteNumber("logit_scale_init_value", config.LogitScale);
            w.WriteNumber("initializer_factor", 1.0);
            w.WriteString("torch_dtype", "float32");
            w.WriteStartObject("text_config");
            w.WriteString("model_type", "clip_text_model");
            w.WriteNumber("vocab_size", config.VocabSize);
            w.WriteNumber("hidden_size", config.TextHidden);
            w.WriteNumber("intermediate_size", config.TextMlp);
            w.WriteNumber("num_attention_heads", config.TextHeads);
            w.WriteNumber("num_hidden_layers", config.TextLayers);
            w.WriteNumber("max_position_embeddings", config.MaxPositions);
            w.WriteNumber("projection_dim", config.ProjectionDim);
            w.WriteString("hidden_act", "quick_gelu");
            w.WriteNumber("layer_norm_eps", 1e-5);
            w.WriteNumber("attention_dropout", 0.0);
            w.WriteNumber("bos_token_id", config.BosTokenId);
            w.WriteNumber("eos_token_id", config.EosTokenId);
            w.WriteNumber("pad_token_id", config.PadTokenId);
            w.WriteEndObject();
            w.WriteStartObject("vision_config");
            w.WriteString("model_type", "clip_vision_model");
            w.WriteNumber("hidden_size", config.VisionHidden);
            w.WriteNumber("intermediate_size", config.VisionMlp);
            w.WriteNumber("num_attention_heads", config.VisionHeads);
            w.WriteNumber("num_hidden_layers", config.VisionLayers);
            w.WriteNumber("num_channels", 3);
            w.WriteNumber("image_size", config.ImageSize);
            w.WriteNumber("patch_size", config.PatchSize);
            w.WriteNumber("projection_dim", config.ProjectionDim);
            w.WriteString("hidden_act", "quick_gelu");
            w.WriteNumber("layer_norm_eps", 1e-5);
            w.WriteNumber("attention_dropout", 0.0);
            w.WriteEndObject();
        });
    }

    /// <summary>The HF <c>CLIPImageProcessor</c> JSON for <paramref name="config"/>'s image size (UTF-8, indented).</summary>
    public static byte[] PreprocessorConfigJson(TinyClipConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return Json(w =>
        {
            w.WriteString("image_processor_type", "CLIPImageProcessor");
            w.WriteBoolean("do_resize", true);
            w.WriteStartObject("size");
            w.WriteNumber("shortest_edge", config.ImageSize);
            w.WriteEndObject();
            // PIL's BICUBIC.
            w.WriteNumber("resample", 3);
            w.WriteBoolean("do_center_crop", true);
            w.WriteStartObject("crop_size");
            w.WriteNumber("height", config.ImageSize);
            w.WriteNumber("width", config.ImageSize);
            w.WriteEndObject();
            w.WriteBoolean("do_rescale", true);
            w.WriteNumber("rescale_factor", 1.0 / 255);
            w.WriteBoolean("do_normalize", true);
            w.WriteStartArray("image_mean");
            foreach (var m in ImageMean)
            {
                w.WriteNumberValue(m);
            }
            w.WriteEndArray();
            w.WriteStartArray("image_std");
            foreach (var s in ImageStd)
            {
                w.WriteNumberValue(s);
            }
            w.WriteEndArray();
            w.WriteBoolean("do_convert_rgb", true);
        });
    }

    private static string TextTower(OnnxModelBuilder b, string ids, string mask, TinyClipWeights weights)
    {
        var config = weights.Config;
        var h = b.Embedding(ids, "text_model.embeddings.token_embedding.weight", weights.TokenEmbedding, config.VocabSize, config.TextHidden);
        h = b.AddPositionEmbedding(h, "text_model.embeddings.position_embedding.weight", weights.TextPositionEmbedding, config.MaxPositions, config.TextHidden);
        // HF adds the causal mask and the expanded padding mask to the scores; consuming
        // attention_mask here also keeps it a live graph input for ONNX Runtime.
        var causal = b.CausalMask(ids, 1);
        var padding = b.KeyPaddingMask(mask);
        for (var i = 0; i < weights.TextLayers.Count; i++)
        {
            h = b.EncoderLayer(h, $"text_model.encoder.layers.{i}", weights.TextLayers[i], causal, padding);
        }
        h = b.LayerNorm(h, "text_model.final_layer_norm", weights.TextFinalNorm);
        // EOS is the largest id and ArgMax returns the first maximum, so the pooled position
        // is the first EOS whatever the padding id is.
        var pooled = b.GatherPerRow(h, b.ArgMax(ids, 1));
        return b.Linear(pooled, "text_projection", weights.TextProjection);
    }

    private static string VisionTower(OnnxModelBuilder b, string pixels, TinyClipWeights weights)
    {
        var config = weights.Config;
        var h = b.PatchEmbedding(pixels, "vision_model.embeddings.patch_embedding", weights.PatchEmbedding, null, config.VisionHidden, 3, config.PatchSize);
        h = b.PrependClassToken(h, "vision_model.embeddings.class_embedding", weights.ClassEmbedding);
        h = b.AddPositionEmbedding(h, "vision_model.embeddings.position_embedding.weight", weights.VisionPositionEmbedding, config.VisionPositions, config.VisionHidden);
        h = b.LayerNorm(h, "vision_model.pre_layrnorm", weights.VisionPreNorm);
        for (var i = 0; i < weights.VisionLayers.Count; i++)
        {
            h = b.EncoderLayer(h, $"vision_model.encoder.layers.{i}", weights.VisionLayers[i]);
        }
        var classState = b.Gather(h, b.ScalarInt64(0), 1);
        classState = b.LayerNorm(classState, "vision_model.post_layernorm", weights.VisionPostNorm);
        return b.Linear(classState, "visual_projection", weights.VisualProjection);
    }

    private static byte[] Json(Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }
}
