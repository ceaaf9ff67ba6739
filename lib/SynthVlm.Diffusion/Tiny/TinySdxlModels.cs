using SynthVlm.Onnx.Builder;

namespace SynthVlm.Diffusion.Tiny;

/// <summary>
/// The graphs of the tiny SDXL set, each with exactly the I/O names, element types, ranks and
/// dynamic-axis names of optimum's SDXL export (reference/models-sdxl-clip.md §1.3): CLIP text
/// towers with <c>hidden_states.*</c> outputs, a one-level UNet with timestep and micro-conditioning
/// embeddings and cross-attention, and a VAE decoder/encoder pair. Weights come from a
/// <see cref="WeightGenerator"/> seeded per component, so a config always gives the same bytes.
/// </summary>
public static class TinySdxlModels
{
    /// <summary>Text encoder input: int64 [batch_size, sequence_length].</summary>
    public const string InputIds = "input_ids";

    /// <summary>Text encoder output: final-LayerNorm states [batch_size, sequence_length, hidden].</summary>
    public const string LastHiddenState = "last_hidden_state";

    /// <summary><c>text_encoder</c> output: the final-LN state at the EOS position [batch_size, hidden].</summary>
    public const string PoolerOutput = "pooler_output";

    /// <summary><c>text_encoder_2</c> output: projected pooled state, not normalised.</summary>
    public const string TextEmbeds = "text_embeds";

    /// <summary>Prefix of the per-layer outputs: <c>hidden_states.0</c> = embeddings, <c>hidden_states.k</c> = output of layer k (no final LN).</summary>
    public const string HiddenStatesPrefix = "hidden_states.";

    /// <summary>UNet input: noisy latents, float [batch_size, 4, height, width].</summary>
    public const string Sample = "sample";

    /// <summary>UNet input: the timestep as a rank-0 float (optimum ≥ 1.24).</summary>
    public const string Timestep = "timestep";

    /// <summary>UNet input: text states, float [batch_size, sequence_length, cross_attention_dim].</summary>
    public const string EncoderHiddenStates = "encoder_hidden_states";

    /// <summary>UNet input: micro-conditioning, float [batch_size, 6] (base) or [batch_size, 5] (refiner).</summary>
    public const string TimeIds = "time_ids";

    /// <summary>UNet output: predicted noise, float [batch_size, 4, height, width].</summary>
    public const string OutSample = "out_sample";

    /// <summary>VAE decoder input: float [batch_size, 4, height_latent, width_latent].</summary>
    public const string LatentSample = "latent_sample";

    /// <summary>VAE encoder output: concat(mean, logvar), float [batch_size, 8, height_latent, width_latent].</summary>
    public const string LatentParameters = "latent_parameters";

    /// <summary>Dynamic axis names, as optimum writes them.</summary>
    public const string BatchAxis = "batch_size";

    /// <summary>Dynamic token axis.</summary>
    public const string SequenceAxis = "sequence_length";

    /// <summary>Dynamic pixel (or UNet latent) height axis.</summary>
    public const string HeightAxis = "height";

    /// <summary>Dynamic pixel (or UNet latent) width axis.</summary>
    public const string WidthAxis = "width";

    /// <summary>Dynamic latent height axis of the VAE graphs.</summary>
    public const string LatentHeightAxis = "height_latent";

    /// <summary>Dynamic latent width axis of the VAE graphs.</summary>
    public const string LatentWidthAxis = "width_latent";

    /// <summary>Opset of every graph (17: LayerNormalization).</summary>
    public const long Opset = 17;

    // One seed offset per component keeps the components independent of each other's sizes.
    private const ulong TextEncoderStream = 1;
    private const ulong TextEncoder2Stream = 2;
    private const ulong BaseUnetStream = 3;
    private const ulong RefinerUnetStream = 4;
    private const ulong VaeDecoderStream = 5;
    private const ulong VaeEncoderStream = 6;

    // ln 10000 as a literal: Math.Log may differ in the last bit between platforms, and these
    // constants end up in the model bytes.
    private const double LnMaxPeriod = 9.2103403719761836;

    /// <summary>The name of output <c>hidden_states.{index}</c>.</summary>
    public static string HiddenStates(int index) =>
        HiddenStatesPrefix + index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// <c>text_encoder</c> (CLIPTextModel, optimum type <c>clip-text</c>): causal pre-LN tower with
    /// QuickGELU, outputs <c>last_hidden_state</c>, <c>pooler_output</c> (at the argmax id, i.e. the
    /// first EOS), <c>hidden_states.0 … hidden_states.{layers}</c>.
    /// </summary>
    public static OnnxModelBuilder BuildTextEncoder(TinySdxlConfig config, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        CheckVocab(vocabSize);
        var b = new OnnxModelBuilder("tiny_sdxl_text_encoder", Opset);
        var g = new WeightGenerator(config.Seed + TextEncoderStream);
        var (last, states) = TextTower(b, g, config, vocabSize, config.TextHidden, config.TextLayers, config.TextHeads, config.TextMlp, Activation.QuickGelu);
        // EOS is the largest id and ArgMax returns the first maximum: the pooled row is the first EOS.
        var pooled = b.Identity(b.GatherPerRow(last, b.ArgMax(InputIds, 1)), PoolerOutput);
        // optimum's output order: last_hidden_state, pooler_output, hidden_states.*.
        b.Output(last, TensorDataType.Float, BatchAxis, SequenceAxis, config.TextHidden);
        b.Output(pooled, TensorDataType.Float, BatchAxis, config.TextHidden);
        DeclareStates(b, null, states, config.TextHidden);
        return b;
    }

    /// <summary>
    /// <c>text_encoder_2</c> (CLIPTextModelWithProjection, type <c>clip-text-with-projection</c>):
    /// causal pre-LN tower with GELU, outputs <c>text_embeds</c> (bias-free projection of the final-LN
    /// state at the argmax id, not normalised), <c>last_hidden_state</c>,
    /// <c>hidden_states.0 … hidden_states.{layers}</c>. As in optimum's export, the file labels the
    /// second axis of <c>text_embeds</c> with the (misleading) dynamic name <c>sequence_length</c>;
    /// ONNX Runtime's shape inference reports the projection width there in session metadata.
    /// </summary>
    public static OnnxModelBuilder BuildTextEncoder2(TinySdxlConfig config, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        CheckVocab(vocabSize);
        var b = new OnnxModelBuilder("tiny_sdxl_text_encoder_2", Opset);
        var g = new WeightGenerator(config.Seed + TextEncoder2Stream);
        var (last, states) = TextTower(b, g, config, vocabSize, config.Text2Hidden, config.Text2Layers, config.Text2Heads, config.Text2Mlp, Activation.Gelu);
        var projection = LinearWeights.Random(g, config.Text2Hidden, config.ProjectionDim, (float)(1 / Math.Sqrt(config.Text2Hidden)), null);
        var pooled = b.GatherPerRow(last, b.ArgMax(InputIds, 1));
        var embeds = b.Identity(b.Linear(pooled, "text_projection", projection), TextEmbeds);
        // optimum's output order: text_embeds, last_hidden_state, hidden_states.*.
        b.Output(embeds, TensorDataType.Float, BatchAxis, SequenceAxis);
        DeclareStates(b, last, states, config.Text2Hidden);
        return b;
    }

    /// <summary>
    /// The UNet: <c>sample</c>, rank-0 float <c>timestep</c>, <c>encoder_hidden_states</c>,
    /// <c>text_embeds</c>, <c>time_ids</c> (6 for the base, 5 for the refiner) → <c>out_sample</c>.
    /// conv_in; time embedding (sinusoidal, flip_sin_to_cos, MLP) plus the <c>text_time</c>
    /// add-embedding (sinusoidal of each time id, concatenated after <c>text_embeds</c>, MLP);
    /// a ResNet block; a stride-2 down conv; a ResNet block; a transformer block whose tokens
    /// (the flattened spatial positions) cross-attend to <c>encoder_hidden_states</c>; nearest
    /// upsampling back to the skip's size (odd sizes included), concat with the skip, conv;
    /// GroupNorm, SiLU, conv_out. ResNet blocks add the embedding as a per-channel bias between
    /// their two GroupNorm + SiLU + conv stages, as diffusers' ResnetBlock2D does.
    /// </summary>
    public static OnnxModelBuilder BuildUnet(TinySdxlConfig config, bool refiner)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var timeIdCount = refiner ? TinySdxlConfig.RefinerTimeIds : TinySdxlConfig.BaseTimeIds;
        var contextWidth = refiner ? config.RefinerCrossAttentionDim : config.BaseCrossAttentionDim;
        var b = new OnnxModelBuilder(refiner ? "tiny_sdxl_refiner_unet" : "tiny_sdxl_unet", Opset);
        var g = new WeightGenerator(config.Seed + (refiner ? RefinerUnetStream : BaseUnetStream));
        var c = config.UnetChannels;
        var t = config.UnetTimeEmbedDim;

        var sample = b.Input(Sample, TensorDataType.Float, BatchAxis, TinySdxlConfig.LatentChannels, HeightAxis, WidthAxis);
        var timestep = b.Input(Timestep, TensorDataType.Float);
        var context = b.Input(EncoderHiddenStates, TensorDataType.Float, BatchAxis, SequenceAxis, contextWidth);
        var textEmbeds = b.Input(TextEmbeds, TensorDataType.Float, BatchAxis, config.ProjectionDim);
        var timeIds = b.Input(TimeIds, TensorDataType.Float, BatchAxis, timeIdCount);

        // Timestep embedding [1, c] -> MLP -> [1, t]; broadcasts over the batch below.
        var tProj = Sinusoidal(b, b.Reshape(timestep, 1, 1), c);
        var temb = b.Linear(b.Silu(b.Linear(tProj, "time_embedding.linear_1", Dense(g, c, t))), "time_embedding.linear_2", Dense(g, t, t));

        // add_time_proj: each id [B, n] -> [B, n, dim] -> [B, n·dim]; text_embeds first, as diffusers concatenates.
        var idsProj = b.Reshape(Sinusoidal(b, b.Unsqueeze(timeIds, 2), config.AdditionTimeEmbedDim), 0, -1);
        var addInput = b.Concat(1, textEmbeds, idsProj);
        var addWidth = config.ProjectionClassEmbeddingsInputDim(timeIdCount);
        var aug = b.Linear(b.Silu(b.Linear(addInput, "add_embedding.linear_1", Dense(g, addWidth, t))), "add_embedding.linear_2", Dense(g, t, t));
        var emb = b.Add(temb, aug);

        var h = Conv(b, g, sample, "conv_in", TinySdxlConfig.LatentChannels, c, 3, 1);
        h = ResnetBlock(b, g, h, emb, "down_blocks.0.resnets.0", c, config.UnetNormGroups, t);
        var skip = h;
        h = Conv(b, g, h, "down_blocks.0.downsamplers.0.conv", c, c, 3, 2);
        h = ResnetBlock(b, g, h, emb, "mid_block.resnets.0", c, config.UnetNormGroups, t);
        h = TransformerBlock(b, g, h, context, "mid_block.attentions.0", c, contextWidth, config.UnetHeads);
        // Resize to the skip's runtime shape, so odd latent sizes come back to their own size.
        h = b.Node("Resize", [h, "", "", b.Shape(skip)], 1,
        [
            NodeAttribute.String("mode", "nearest"),
            NodeAttribute.String("coordinate_transformation_mode", "asymmetric"),
            NodeAttribute.String("nearest_mode", "floor"),
        ])[0];
        h = Conv(b, g, b.Concat(1, h, skip), "up_blocks.0.conv", 2 * c, c, 3, 1);
        h = b.Silu(GroupNorm(b, g, h, "conv_norm_out", c, config.UnetNormGroups));
        var output = b.Identity(Conv(b, g, h, "conv_out", c, TinySdxlConfig.LatentChannels, 3, 1), OutSample);
        b.Output(output, TensorDataType.Float, BatchAxis, TinySdxlConfig.LatentChannels, HeightAxis, WidthAxis);
        return b;
    }

    /// <summary>
    /// <c>vae_decoder</c>: <c>latent_sample</c> [B, 4, h, w] → <c>sample</c> [B, 3, 8h, 8w] in (−1, 1):
    /// post_quant_conv, conv_in, three (nearest ×2, conv, SiLU) stages, conv_out, tanh.
    /// </summary>
    public static OnnxModelBuilder BuildVaeDecoder(TinySdxlConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var b = new OnnxModelBuilder("tiny_sdxl_vae_decoder", Opset);
        var g = new WeightGenerator(config.Seed + VaeDecoderStream);
        var c = config.VaeChannels;
        var latent = b.Input(LatentSample, TensorDataType.Float, BatchAxis, TinySdxlConfig.LatentChannels, LatentHeightAxis, LatentWidthAxis);
        var h = Conv(b, g, latent, "post_quant_conv", TinySdxlConfig.LatentChannels, TinySdxlConfig.LatentChannels, 1, 1);
        h = Conv(b, g, h, "decoder.conv_in", TinySdxlConfig.LatentChannels, c, 3, 1);
        var doubleSize = b.Initializer("upsample_scales", (ReadOnlySpan<float>)[1f, 1f, 2f, 2f], 4);
        for (var i = 0; i < 3; i++)
        {
            h = b.Node("Resize", [h, "", doubleSize], 1, [NodeAttribute.String("mode", "nearest")])[0];
            h = b.Silu(Conv(b, g, h, $"decoder.up_blocks.{i}.upsamplers.0.conv", c, c, 3, 1));
        }
        h = Conv(b, g, h, "decoder.conv_out", c, 3, 3, 1);
        var pixels = b.Node("Tanh", [h], outputs: [Sample])[0];
        b.Output(pixels, TensorDataType.Float, BatchAxis, 3, HeightAxis, WidthAxis);
        return b;
    }

    /// <summary>
    /// <c>vae_encoder</c>: <c>sample</c> [B, 3, H, W] in [−1, 1] → <c>latent_parameters</c>
    /// [B, 8, ⌈H/8⌉, ⌈W/8⌉] = concat(mean, logvar): conv_in, three (stride-2 conv, SiLU) stages,
    /// conv_out, quant_conv.
    /// </summary>
    public static OnnxModelBuilder BuildVaeEncoder(TinySdxlConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var b = new OnnxModelBuilder("tiny_sdxl_vae_encoder", Opset);
        var g = new WeightGenerator(config.Seed + VaeEncoderStream);
        var c = config.VaeChannels;
        const int moments = 2 * TinySdxlConfig.LatentChannels;
        var pixels = b.Input(Sample, TensorDataType.Float, BatchAxis, 3, HeightAxis, WidthAxis);
        var h = Conv(b, g, pixels, "encoder.conv_in", 3, c, 3, 1);
        for (var i = 0; i < 3; i++)
        {
            h = b.Silu(Conv(b, g, h, $"encoder.down_blocks.{i}.downsamplers.0.conv", c, c, 3, 2));
        }
        h = Conv(b, g, h, "encoder.conv_out", c, moments, 3, 1);
        var parameters = b.Identity(Conv(b, g, h, "quant_conv", moments, moments, 1, 1), LatentParameters);
        b.Output(parameters, TensorDataType.Float, BatchAxis, moments, LatentHeightAxis, LatentWidthAxis);
        return b;
    }

    private static (string Last, List<string> States) TextTower(OnnxModelBuilder b, WeightGenerator g, TinySdxlConfig config, int vocabSize, int hidden, int layers, int heads, int mlp, Activation activation)
    {
        var ids = b.Input(InputIds, TensorDataType.Int64, BatchAxis, SequenceAxis);
        // The order of the draws is part of the format: changing it changes every model.
        var token = g.Normal(0.02f, vocabSize, hidden);
        var positions = g.Normal(0.01f, config.MaxPositions, hidden);
        var h = b.Embedding(ids, "text_model.embeddings.token_embedding.weight", token, vocabSize, hidden);
        h = b.AddPositionEmbedding(h, "text_model.embeddings.position_embedding.weight", positions, config.MaxPositions, hidden);
        h = b.Identity(h, HiddenStates(0));
        var states = new List<string> { h };
        var causal = b.CausalMask(ids, 1);
        for (var i = 0; i < layers; i++)
        {
            var weights = EncoderLayerWeights.Random(g, hidden, heads, mlp, activation, layers);
            h = b.Identity(b.EncoderLayer(h, $"text_model.encoder.layers.{i}", weights, causal), HiddenStates(i + 1));
            states.Add(h);
        }
        var last = b.Identity(b.LayerNorm(h, "text_model.final_layer_norm", LayerNormWeights.Random(g, hidden, 0.1f)), LastHiddenState);
        return (last, states);
    }

    private static void DeclareStates(OnnxModelBuilder b, string? last, List<string> states, int hidden)
    {
        if (last is not null)
        {
            b.Output(last, TensorDataType.Float, BatchAxis, SequenceAxis, hidden);
        }
        foreach (var state in states)
        {
            b.Output(state, TensorDataType.Float, BatchAxis, SequenceAxis, hidden);
        }
    }

    private static string ResnetBlock(OnnxModelBuilder b, WeightGenerator g, string x, string emb, string prefix, int channels, int groups, int embWidth)
    {
        var h = Conv(b, g, b.Silu(GroupNorm(b, g, x, $"{prefix}.norm1", channels, groups)), $"{prefix}.conv1", channels, channels, 3, 1);
        var bias = b.Linear(b.Silu(emb), $"{prefix}.time_emb_proj", Dense(g, embWidth, channels));
        h = b.Add(h, b.Unsqueeze(bias, 2, 3));
        h = Conv(b, g, b.Silu(GroupNorm(b, g, h, $"{prefix}.norm2", channels, groups)), $"{prefix}.conv2", channels, channels, 3, 1);
        return b.Add(x, h);
    }

    private static string TransformerBlock(OnnxModelBuilder b, WeightGenerator g, string x, string context, string prefix, int channels, int contextWidth, int heads)
    {
        // [B, C, H, W] -> [B, H·W, C]: one token per spatial position.
        var tokens = b.Transpose(b.Reshape(x, 0, 0, -1), 0, 2, 1);
        var normed = b.LayerNorm(tokens, $"{prefix}.norm1", LayerNormWeights.Random(g, channels, 0.1f));
        tokens = b.Add(tokens, CrossAttention(b, g, normed, context, $"{prefix}.attn2", channels, contextWidth, heads));
        var mlp = MlpWeights.Random(g, channels, 2 * channels, Activation.Gelu, 1);
        tokens = b.Add(tokens, b.Mlp(b.LayerNorm(tokens, $"{prefix}.norm3", LayerNormWeights.Random(g, channels, 0.1f)), $"{prefix}.ff", mlp));
        return b.Reshape(b.Transpose(tokens, 0, 2, 1), b.Shape(x));
    }

    private static string CrossAttention(OnnxModelBuilder b, WeightGenerator g, string x, string context, string prefix, int channels, int contextWidth, int heads)
    {
        var d = channels / heads;
        var inStd = (float)(1 / Math.Sqrt(channels));
        var q = b.Linear(x, $"{prefix}.to_q", LinearWeights.Random(g, channels, channels, inStd, null));
        var k = b.Linear(context, $"{prefix}.to_k", LinearWeights.Random(g, contextWidth, channels, (float)(1 / Math.Sqrt(contextWidth)), null));
        var v = b.Linear(context, $"{prefix}.to_v", LinearWeights.Random(g, contextWidth, channels, (float)(1 / Math.Sqrt(contextWidth)), null));
        var split = b.Int64s(0, 0, heads, d);
        var qh = b.Transpose(b.Reshape(q, split), 0, 2, 1, 3);
        var kt = b.Transpose(b.Reshape(k, split), 0, 2, 3, 1);
        var vh = b.Transpose(b.Reshape(v, split), 0, 2, 1, 3);
        var scores = b.Mul(b.MatMul(qh, kt), b.ScalarFloat(1f / MathF.Sqrt(d)));
        var attended = b.MatMul(b.Softmax(scores, -1), vh);
        var merged = b.Reshape(b.Transpose(attended, 0, 2, 1, 3), 0, 0, channels);
        return b.Linear(merged, $"{prefix}.to_out.0", LinearWeights.Random(g, channels, channels, inStd, 0.02f));
    }

    /// <summary>
    /// diffusers' <c>get_timestep_embedding</c> with flip_sin_to_cos and shift 0 over the last axis
    /// of <paramref name="x"/> (size 1): [cos(x·f), sin(x·f)] with f_i = e^(−ln(10000)·i/half).
    /// The frequencies are computed in the graph so no platform exp ends up in the weights.
    /// </summary>
    private static string Sinusoidal(OnnxModelBuilder b, string x, int width)
    {
        var half = width / 2;
        var index = new float[half];
        for (var i = 0; i < half; i++)
        {
            index[i] = i;
        }
        var exponents = b.Mul(b.Initializer(b.UniqueName("freq_index"), index, half), b.ScalarFloat((float)(-LnMaxPeriod / half)));
        var args = b.Mul(x, b.Exp(exponents));
        return b.Concat(-1, b.Op("Cos", args), b.Op("Sin", args));
    }

    private static string Conv(OnnxModelBuilder b, WeightGenerator g, string x, string prefix, int inChannels, int outChannels, int kernel, int stride)
    {
        var std = (float)(1 / Math.Sqrt(inChannels * kernel * kernel));
        var w = b.Weight($"{prefix}.weight", g.Normal(std, outChannels, inChannels, kernel, kernel), outChannels, inChannels, kernel, kernel);
        var bias = b.Weight($"{prefix}.bias", g.Normal(0.02f, outChannels), outChannels);
        long pad = kernel / 2;
        return b.Node("Conv", [x, w, bias], 1,
        [
            NodeAttribute.Ints("kernel_shape", kernel, kernel),
            NodeAttribute.Ints("strides", stride, stride),
            NodeAttribute.Ints("pads", pad, pad, pad, pad),
        ])[0];
    }

    /// <summary>
    /// GroupNorm as diffusers' UNet uses it: statistics per group of channels, then a per-channel
    /// affine. Decomposed as Reshape [B, groups, −1] → InstanceNormalization (unit scale) → Reshape
    /// back, because GroupNormalization (opset 18) changed its scale layout in opset 21. Groups of
    /// several channels matter here: with one channel per group a per-channel bias added before
    /// the norm (the time embedding) would be normalised away.
    /// </summary>
    private static string GroupNorm(OnnxModelBuilder b, WeightGenerator g, string x, string prefix, int channels, int groups)
    {
        var norm = LayerNormWeights.Random(g, channels, 0.1f);
        var ones = new float[groups];
        ones.AsSpan().Fill(1f);
        var grouped = b.Reshape(x, 0, groups, -1);
        var normed = b.Op("InstanceNormalization",
            [grouped, b.Initializer(b.UniqueName("group_norm_ones"), ones, groups), b.Initializer(b.UniqueName("group_norm_zeros"), new float[groups], groups)],
            NodeAttribute.Float("epsilon", 1e-5f));
        normed = b.Reshape(normed, b.Shape(x));
        var scale = b.Weight($"{prefix}.weight", norm.Scale, channels, 1, 1);
        var bias = b.Weight($"{prefix}.bias", norm.Bias, channels, 1, 1);
        return b.Add(b.Mul(normed, scale), bias);
    }

    private static string Silu(this OnnxModelBuilder b, string x) => b.Mul(x, b.Sigmoid(x));

    private static LinearWeights Dense(WeightGenerator g, int inFeatures, int outFeatures) =>
        LinearWeights.Random(g, inFeatures, outFeatures, (float)(1 / Math.Sqrt(inFeatures)), 0.02f);

    private static void CheckVocab(int vocabSize)
    {
        if (vocabSize < 3)
        {
            throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "The vocabulary needs at least one token plus BOS and EOS (its last two ids).");
        }
    }
}
