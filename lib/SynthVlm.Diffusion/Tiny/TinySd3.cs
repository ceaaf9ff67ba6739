using System.Globalization;
using System.Text;
using System.Text.Json;
using SynthVlm.Onnx.Builder;
using SynthVlm.Tokenizers;

namespace SynthVlm.Diffusion.Tiny;

/// <summary>
/// A tiny Stable Diffusion 3 in optimum's export layout, random weights, for tests and the services' default:
/// model_index.json (<c>StableDiffusion3Pipeline</c>), scheduler/ (FlowMatchEulerDiscreteScheduler, shift 3),
/// tokenizer/ and tokenizer_2/ (the tiny CLIP BPE of <see cref="TinySdxl"/>; tokenizer_2 pads with "!"),
/// text_encoder/ and text_encoder_2/ (CLIP towers with projection, as SD3's CLIPTextModelWithProjection:
/// <c>text_embeds</c>, <c>last_hidden_state</c>, <c>hidden_states.*</c>), tokenizer_3/ (a Unigram
/// <c>tokenizer.json</c> with T5's special tokens &lt;pad&gt; 0, &lt;/s&gt; 1, &lt;unk&gt; 2), text_encoder_3/
/// (<c>input_ids</c> → <c>last_hidden_state</c>), transformer/ and vae_decoder/ (16 latent channels, SD3's
/// scaling_factor 1.5305 and shift_factor 0.0609). The same inputs always give the same bytes.
/// </summary>
/// <remarks>
/// Only the I/O contract is SD3's; the networks are small stand-ins. text_encoder_3 is one pre-LN encoder layer with
/// learned positions (real T5 has relative position buckets and RMSNorm). The transformer is one MMDiT-style joint
/// block: a stride-2 patch convolution, a timestep (sinusoid of 256, cos first) plus pooled-text embedding
/// modulating LayerNorms on both streams (shift/scale), joint self-attention over [image tokens; context tokens],
/// a residual MLP on the image tokens, a projection to 2·2·16 and DepthToSpace back to [B, 16, H, W]. The torch
/// parity of a full MMDiT definition is tested on a separate fixture (tests' Parity/Sd3Fixtures).
/// </remarks>
public static class TinySd3
{
    /// <summary>Width of T5's hidden state here, which is also the transformer's joint_attention_dim.</summary>
    public const int JointWidth = 48;

    /// <summary>CLIP-L stand-in: hidden and projection width.</summary>
    public const int ClipLWidth = 16;

    /// <summary>CLIP-G stand-in: hidden and projection width.</summary>
    public const int ClipGWidth = 24;

    /// <summary>The transformer's pooled_projections width (CLIP-L + CLIP-G text_embeds).</summary>
    public const int PooledWidth = ClipLWidth + ClipGWidth;

    /// <summary>SD3's latent channels.</summary>
    public const int LatentChannels = 16;

    /// <summary>The transformer's inner width.</summary>
    public const int InnerWidth = 32;

    private const int T5MaxPositions = 512;
    private const ulong Seed = 20261207;
    private const long Opset = 17;

    /// <summary>Makes sure <paramref name="directory"/> holds the tiny SD3; returns its full path.</summary>
    public static string EnsureTiny(string directory) =>
        IO.AtomicDirectory.Ensure(directory, Write, dir => File.Exists(Path.Combine(dir, TinySdxl.ModelIndexFileName)));

    /// <summary>Writes the tiny SD3 into <paramref name="dir"/> (created when needed; files overwritten).</summary>
    public static void Write(string dir)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dir);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, TinySdxl.ModelIndexFileName), """
            {
              "_class_name": "StableDiffusion3Pipeline",
              "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
              "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
              "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
              "text_encoder_3": ["transformers", "T5EncoderModel"],
              "tokenizer": ["transformers", "CLIPTokenizer"],
              "tokenizer_2": ["transformers", "CLIPTokenizer"],
              "tokenizer_3": ["transformers", "T5TokenizerFast"],
              "transformer": ["diffusers", "SD3Transformer2DModel"],
              "vae": ["diffusers", "AutoencoderKL"]
            }
            """);
        File.WriteAllText(Path.Combine(Component(dir, TinySdxl.SchedulerFolder), TinySdxl.SchedulerConfigFileName),
            """{"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 3.0}""");

        var clipL = new TinySdxlConfig { Text2Hidden = ClipLWidth, Text2Layers = 2, Text2Heads = 2, Text2Mlp = 32, ProjectionDim = ClipLWidth, Seed = Seed + 10 };
        var clipG = new TinySdxlConfig { Text2Hidden = ClipGWidth, Text2Layers = 3, Text2Heads = 2, Text2Mlp = 48, ProjectionDim = ClipGWidth, Seed = Seed + 20 };
        var bpe = TinySdxl.Tokenizer(clipL);
        BpeTrainer.WriteFolder(Path.Combine(dir, TinySdxl.TokenizerFolder), bpe, new TokenizerFolderOptions { ModelMaxLength = clipL.MaxPositions });
        BpeTrainer.WriteFolder(Path.Combine(dir, TinySdxl.Tokenizer2Folder), bpe, new TokenizerFolderOptions { PadToken = TinySdxl.Tokenizer2PadToken, ModelMaxLength = clipL.MaxPositions });
        TinySdxlModels.BuildTextEncoder2(clipL, bpe.Tokens.Count).Save(Path.Combine(Component(dir, TinySdxl.TextEncoderFolder), TinySdxl.ModelFileName));
        TinySdxlModels.BuildTextEncoder2(clipG, bpe.Tokens.Count).Save(Path.Combine(Component(dir, TinySdxl.TextEncoder2Folder), TinySdxl.ModelFileName));

        var pieces = T5Pieces();
        var tokenizer3 = Component(dir, "tokenizer_3");
        File.WriteAllText(Path.Combine(tokenizer3, "tokenizer.json"), T5TokenizerJson(pieces));
        File.WriteAllText(Path.Combine(tokenizer3, "tokenizer_config.json"), """
            {"tokenizer_class": "T5TokenizerFast", "model_max_length": 512, "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>", "extra_ids": 0}
            """);
        BuildT5(pieces.Count).Save(Path.Combine(Component(dir, "text_encoder_3"), TinySdxl.ModelFileName));

        var transformer = Component(dir, "transformer");
        BuildTransformer().Save(Path.Combine(transformer, TinySdxl.ModelFileName));
        File.WriteAllText(Path.Combine(transformer, TinySdxl.ConfigFileName), string.Create(CultureInfo.InvariantCulture,
            $$"""{"_class_name": "SD3Transformer2DModel", "in_channels": {{LatentChannels}}, "out_channels": {{LatentChannels}}, "patch_size": 2, "joint_attention_dim": {{JointWidth}}, "pooled_projection_dim": {{PooledWidth}}, "caption_projection_dim": {{InnerWidth}}, "num_layers": 1}"""));
        var vae = Component(dir, TinySdxl.VaeDecoderFolder);
        BuildVaeDecoder().Save(Path.Combine(vae, TinySdxl.ModelFileName));
        File.WriteAllText(Path.Combine(vae, TinySdxl.ConfigFileName),
            """{"_class_name": "AutoencoderKL", "latent_channels": 16, "scaling_factor": 1.5305, "shift_factor": 0.0609, "force_upcast": true}""");
    }

    /// <summary>The Unigram pieces of tokenizer_3 with their scores (id = position): T5's three specials first.</summary>
    internal static List<(string Piece, double Score)> T5Pieces()
    {
        var pieces = new List<(string, double)> { ("<pad>", 0), ("</s>", 0), ("<unk>", 0), ("\u2581", -3) };
        string[] words =
        [
            "a", "an", "the", "of", "on", "in", "with", "and", "photo", "picture", "cat", "dog", "man", "woman", "red", "blue",
            "green", "white", "black", "sitting", "standing", "table", "street", "car", "tree", "sky", "water", "small", "large", "two",
        ];
        foreach (var w in words)
        {
            pieces.Add(("\u2581" + w, -4 - (0.01 * w.Length)));
        }

        foreach (var c in "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
        {
            if (!words.Contains(c.ToString()))
            {
                pieces.Add(("\u2581" + c, -9));
            }

            pieces.Add((c.ToString(), -8));
        }

        return pieces;
    }

    private static string T5TokenizerJson(List<(string Piece, double Score)> pieces)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false }))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            w.WriteStartArray("added_tokens");
            for (var id = 0; id < 3; id++)
            {
                w.WriteStartObject();
                w.WriteNumber("id", id);
                w.WriteString("content", pieces[id].Piece);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteNull("normalizer");
            w.WriteStartObject("pre_tokenizer");
            w.WriteString("type", "Metaspace");
            w.WriteString("replacement", "\u2581");
            w.WriteString("prepend_scheme", "always");
            w.WriteBoolean("split", true);
            w.WriteEndObject();
            w.WriteNull("post_processor");
            w.WriteStartObject("decoder");
            w.WriteString("type", "Metaspace");
            w.WriteString("replacement", "\u2581");
            w.WriteString("prepend_scheme", "always");
            w.WriteBoolean("split", true);
            w.WriteEndObject();
            w.WriteStartObject("model");
            w.WriteString("type", "Unigram");
            w.WriteNumber("unk_id", 2);
            w.WriteStartArray("vocab");
            foreach (var (piece, score) in pieces)
            {
                w.WriteStartArray();
                w.WriteStringValue(piece);
                w.WriteNumberValue(score);
                w.WriteEndArray();
            }

            w.WriteEndArray();
            w.WriteBoolean("byte_fallback", false);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static OnnxModelBuilder BuildT5(int vocab)
    {
        var b = new OnnxModelBuilder("tiny_sd3_text_encoder_3", Opset);
        var g = new WeightGenerator(Seed + 30);
        var ids = b.Input(TinySdxlModels.InputIds, TensorDataType.Int64, TinySdxlModels.BatchAxis, TinySdxlModels.SequenceAxis);
        var h = b.Embedding(ids, "shared.weight", g.Normal(0.5f, vocab, JointWidth), vocab, JointWidth);
        h = b.AddPositionEmbedding(h, "encoder.position.weight", g.Normal(0.05f, T5MaxPositions, JointWidth), T5MaxPositions, JointWidth);
        h = b.EncoderLayer(h, "encoder.block.0", EncoderLayerWeights.Random(g, JointWidth, 2, 2 * JointWidth, Activation.Gelu, 1));
        var last = b.Identity(b.LayerNorm(h, "encoder.final_layer_norm", LayerNormWeights.Random(g, JointWidth, 0.1f)), TinySdxlModels.LastHiddenState);
        b.Output(last, TensorDataType.Float, TinySdxlModels.BatchAxis, TinySdxlModels.SequenceAxis, JointWidth);
        return b;
    }

    private static OnnxModelBuilder BuildTransformer()
    {
        const int d = InnerWidth;
        var b = new OnnxModelBuilder("tiny_sd3_transformer", Opset);
        var g = new WeightGenerator(Seed + 40);
        var sample = b.Input("hidden_states", TensorDataType.Float, TinySdxlModels.BatchAxis, LatentChannels, TinySdxlModels.HeightAxis, TinySdxlModels.WidthAxis);
        var timestep = b.Input("timestep", TensorDataType.Float, "step");
        var context = b.Input("encoder_hidden_states", TensorDataType.Float, TinySdxlModels.BatchAxis, TinySdxlModels.SequenceAxis, JointWidth);
        var pooled = b.Input("pooled_projections", TensorDataType.Float, TinySdxlModels.BatchAxis, PooledWidth);

        // Patch embedding: [B, 16, H, W] -> [B, d, H/2, W/2] -> tokens [B, N, d].
        var std = (float)(1 / Math.Sqrt(LatentChannels * 4));
        var convW = b.Weight("pos_embed.proj.weight", g.Normal(std, d, LatentChannels, 2, 2), d, LatentChannels, 2, 2);
        var convB = b.Weight("pos_embed.proj.bias", g.Normal(0.02f, d), d);
        var grid = b.Node("Conv", [sample, convW, convB], 1, [NodeAttribute.Ints("kernel_shape", 2, 2), NodeAttribute.Ints("strides", 2, 2)])[0];
        var tokens = b.Transpose(b.Reshape(grid, 0, d, -1), 0, 2, 1);

        // Conditioning: sinusoid(t) (256, cos first) -> MLP, plus pooled -> MLP.
        const int half = 128;
        var freqs = new float[half];
        for (var i = 0; i < half; i++)
        {
            freqs[i] = (float)Math.Exp(-9.2103403719761836 * i / half);
        }

        var args = b.Mul(b.Unsqueeze(timestep, 1), b.Weight("time_proj.freqs", freqs, 1, half));
        var sinusoid = b.Concat(1, b.Op("Cos", args), b.Op("Sin", args));
        var temb = b.Linear(Silu(b, b.Linear(sinusoid, "time_text_embed.timestep_embedder.linear_1", Dense(g, 2 * half, d))), "time_text_embed.timestep_embedder.linear_2", Dense(g, d, d));
        var pemb = b.Linear(Silu(b, b.Linear(pooled, "time_text_embed.text_embedder.linear_1", Dense(g, PooledWidth, d))), "time_text_embed.text_embedder.linear_2", Dense(g, d, d));
        var emb = Silu(b, b.Add(temb, pemb));
        var mod = b.Unsqueeze(b.Linear(emb, "transformer_blocks.0.norm1.linear", Dense(g, d, 4 * d)), 1);
        var parts = b.Node("Split", [mod, b.Int64s(d, d, d, d)], 4, [NodeAttribute.Int("axis", 2)]);

        var ctx = b.Linear(context, "context_embedder", Dense(g, JointWidth, d));
        var nx = Modulate(b, b.LayerNorm(tokens, "transformer_blocks.0.norm1.norm", LayerNormWeights.Random(g, d, 0f)), parts[0], parts[1]);
        var nc = Modulate(b, b.LayerNorm(ctx, "transformer_blocks.0.norm1_context.norm", LayerNormWeights.Random(g, d, 0f)), parts[2], parts[3]);
        var joint = b.SelfAttention(b.Concat(1, nx, nc), "transformer_blocks.0.attn", AttentionWeights.Random(g, d, 2, 1));
        var imageTokens = b.Slice(joint, b.Int64s(0), b.DimOf(tokens, 1), b.Int64s(1));
        var x = b.Add(tokens, imageTokens);
        x = b.Add(x, b.Mlp(b.LayerNorm(x, "transformer_blocks.0.norm2", LayerNormWeights.Random(g, d, 0.1f)), "transformer_blocks.0.ff", MlpWeights.Random(g, d, 4 * d, Activation.Gelu, 1)));
        x = b.Linear(b.LayerNorm(x, "norm_out", LayerNormWeights.Random(g, d, 0.1f)), "proj_out", Dense(g, d, 4 * LatentChannels));

        // Unpatchify: [B, N, 4·16] -> [B, 64, H/2, W/2] -> DepthToSpace -> [B, 16, H, W].
        var gridShape = b.Concat(0, b.Int64s(0, 4 * LatentChannels), b.Slice(b.Shape(grid), b.Int64s(2), b.Int64s(4), b.Int64s(0)));
        var patches = b.Reshape(b.Transpose(x, 0, 2, 1), gridShape);
        var output = b.Node("DepthToSpace", [patches], 1, [NodeAttribute.Int("blocksize", 2), NodeAttribute.String("mode", "CRD")], outputs: ["out_hidden_states"])[0];
        b.Output(output, TensorDataType.Float, TinySdxlModels.BatchAxis, LatentChannels, TinySdxlModels.HeightAxis, TinySdxlModels.WidthAxis);
        return b;
    }

    private static OnnxModelBuilder BuildVaeDecoder()
    {
        const int c = 16;
        var b = new OnnxModelBuilder("tiny_sd3_vae_decoder", Opset);
        var g = new WeightGenerator(Seed + 50);
        var latent = b.Input(TinySdxlModels.LatentSample, TensorDataType.Float, TinySdxlModels.BatchAxis, LatentChannels, TinySdxlModels.LatentHeightAxis, TinySdxlModels.LatentWidthAxis);
        var h = Conv3(b, g, latent, "decoder.conv_in", LatentChannels, c);
        var doubleSize = b.Initializer("upsample_scales", (ReadOnlySpan<float>)[1f, 1f, 2f, 2f], 4);
        for (var i = 0; i < 3; i++)
        {
            h = b.Node("Resize", [h, "", doubleSize], 1, [NodeAttribute.String("mode", "nearest")])[0];
            h = Silu(b, Conv3(b, g, h, $"decoder.up_blocks.{i}.upsamplers.0.conv", c, c));
        }

        h = Conv3(b, g, h, "decoder.conv_out", c, 3);
        var pixels = b.Node("Tanh", [h], outputs: [TinySdxlModels.Sample])[0];
        b.Output(pixels, TensorDataType.Float, TinySdxlModels.BatchAxis, 3, TinySdxlModels.HeightAxis, TinySdxlModels.WidthAxis);
        return b;
    }

    private static string Modulate(OnnxModelBuilder b, string normed, string shift, string scale) =>
        b.Add(b.Mul(normed, b.Add(scale, b.ScalarFloat(1f))), shift);

    private static string Conv3(OnnxModelBuilder b, WeightGenerator g, string x, string prefix, int inChannels, int outChannels)
    {
        var std = (float)(1 / Math.Sqrt(inChannels * 9));
        var w = b.Weight($"{prefix}.weight", g.Normal(std, outChannels, inChannels, 3, 3), outChannels, inChannels, 3, 3);
        var bias = b.Weight($"{prefix}.bias", g.Normal(0.02f, outChannels), outChannels);
        return b.Node("Conv", [x, w, bias], 1, [NodeAttribute.Ints("kernel_shape", 3, 3), NodeAttribute.Ints("pads", 1, 1, 1, 1)])[0];
    }

    private static string Silu(OnnxModelBuilder b, string x) => b.Mul(x, b.Sigmoid(x));

    private static LinearWeights Dense(WeightGenerator g, int inFeatures, int outFeatures) =>
        LinearWeights.Random(g, inFeatures, outFeatures, (float)(1 / Math.Sqrt(inFeatures)), 0.02f);

    private static string Component(string dir, string folder) => Directory.CreateDirectory(Path.Combine(dir, folder)).FullName;
}
