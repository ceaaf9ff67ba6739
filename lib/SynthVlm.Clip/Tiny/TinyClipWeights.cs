using SynthVlm.Onnx.Builder;

namespace SynthVlm.Clip.Tiny;

/// <summary>
/// Every parameter of a tiny CLIP, in the layouts the graph uses (linear weights [in, out]).
/// <see cref="Generate"/> regenerates them bit for bit from a config, so tests can run a
/// reference forward pass on exactly the weights inside a written model.
/// </summary>
public sealed class TinyClipWeights
{
    private TinyClipWeights(TinyClipConfig config)
    {
        Config = config;
    }

    /// <summary>The config the weights were generated for.</summary>
    public TinyClipConfig Config { get; }

    /// <summary>Token embeddings [vocab, textHidden].</summary>
    public required float[] TokenEmbedding { get; init; }

    /// <summary>Text position embeddings [maxPositions, textHidden].</summary>
    public required float[] TextPositionEmbedding { get; init; }

    /// <summary>Text encoder layers (causal).</summary>
    public required IReadOnlyList<EncoderLayerWeights> TextLayers { get; init; }

    /// <summary>LayerNorm after the text encoder.</summary>
    public required LayerNormWeights TextFinalNorm { get; init; }

    /// <summary>Text projection [textHidden, projectionDim], no bias.</summary>
    public required LinearWeights TextProjection { get; init; }

    /// <summary>Patch embedding Conv weight [visionHidden, 3, patch, patch], no bias.</summary>
    public required float[] PatchEmbedding { get; init; }

    /// <summary>Class token [visionHidden].</summary>
    public required float[] ClassEmbedding { get; init; }

    /// <summary>Vision position embeddings [patches + 1, visionHidden].</summary>
    public required float[] VisionPositionEmbedding { get; init; }

    /// <summary>LayerNorm before the vision encoder (HF: <c>pre_layrnorm</c>).</summary>
    public required LayerNormWeights VisionPreNorm { get; init; }

    /// <summary>Vision encoder layers.</summary>
    public required IReadOnlyList<EncoderLayerWeights> VisionLayers { get; init; }

    /// <summary>LayerNorm on the class token after the encoder (HF: <c>post_layernorm</c>).</summary>
    public required LayerNormWeights VisionPostNorm { get; init; }

    /// <summary>Visual projection [visionHidden, projectionDim], no bias.</summary>
    public required LinearWeights VisualProjection { get; init; }

    /// <summary>The weights of <paramref name="config"/>, from its seed.</summary>
    public static TinyClipWeights Generate(TinyClipConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var g = new WeightGenerator(config.Seed);
        var th = config.TextHidden;
        var vh = config.VisionHidden;
        // The order of the draws below is part of the format: changing it changes every model.
        var token = g.Normal(0.02f, config.VocabSize, th);
        var textPositions = g.Normal(0.01f, config.MaxPositions, th);
        var textLayers = new EncoderLayerWeights[config.TextLayers];
        for (var i = 0; i < textLayers.Length; i++)
        {
            textLayers[i] = EncoderLayerWeights.Random(g, th, config.TextHeads, config.TextMlp, Activation.QuickGelu, config.TextLayers);
        }
        var textNorm = LayerNormWeights.Random(g, th, 0.1f);
        var textProjection = LinearWeights.Random(g, th, config.ProjectionDim, (float)(1 / Math.Sqrt(th)), null);

        var patch = g.Normal(0.02f, vh, 3, config.PatchSize, config.PatchSize);
        var classToken = g.Normal((float)(1 / Math.Sqrt(vh)), vh);
        var visionPositions = g.Normal(0.02f, config.VisionPositions, vh);
        var preNorm = LayerNormWeights.Random(g, vh, 0.1f);
        var visionLayers = new EncoderLayerWeights[config.VisionLayers];
        for (var i = 0; i < visionLayers.Length; i++)
        {
            visionLayers[i] = EncoderLayerWeights.Random(g, vh, config.VisionHeads, config.VisionMlp, Activation.QuickGelu, config.VisionLayers);
        }
        var postNorm = LayerNormWeights.Random(g, vh, 0.1f);
        var visualProjection = LinearWeights.Random(g, vh, config.ProjectionDim, (float)(1 / Math.Sqrt(vh)), null);

        return new TinyClipWeights(config)
        {
            TokenEmbedding = token,
            TextPositionEmbedding = textPositions,
            TextLayers = textLayers,
            TextFinalNorm = textNorm,
            TextProjection = textProjection,
            PatchEmbedding = patch,
            ClassEmbedding = classToken,
            VisionPositionEmbedding = visionPositions,
            VisionPreNorm = preNorm,
            VisionLayers = visionLayers,
            VisionPostNorm = postNorm,
            VisualProjection = visualProjection,
        };
    }
}
