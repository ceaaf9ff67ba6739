namespace SynthVlm.Diffusion.Tiny;

/// <summary>
/// Sizes of the tiny random SDXL base + refiner set. The real text towers have 12 (CLIP-L) and
/// 32 (OpenCLIP bigG) layers and the pipeline reads <c>hidden_states.11</c> and
/// <c>hidden_states.31</c>, so the tiny towers keep those depths and make each layer narrow
/// instead (widths 24 and 40, 2 heads, MLP 2×): every <c>hidden_states.k</c> output is the
/// result of a real transformer layer, and the whole set still runs in milliseconds.
/// The vocabulary is not set here: it is the size of the tokenizer trained for the set, whose
/// last two ids are BOS and EOS, as in CLIP.
/// </summary>
public sealed record TinySdxlConfig
{
    /// <summary>Merges asked of <c>BpeTrainer.TrainTiny</c>; the vocabulary is 512 byte tokens + merges + 2.</summary>
    public int TokenizerMerges { get; init; } = 2000;

    /// <summary>Longest token sequence (77, as CLIP).</summary>
    public int MaxPositions { get; init; } = 77;

    /// <summary>Width of <c>text_encoder</c> (CLIP-L stand-in; the real one is 768).</summary>
    public int TextHidden { get; init; } = 24;

    /// <summary>Depth of <c>text_encoder</c>; 12 as the real one, so <c>hidden_states.0…12</c> exist.</summary>
    public int TextLayers { get; init; } = 12;

    /// <summary>Attention heads of <c>text_encoder</c>.</summary>
    public int TextHeads { get; init; } = 2;

    /// <summary>MLP width of <c>text_encoder</c>.</summary>
    public int TextMlp { get; init; } = 48;

    /// <summary>Width of <c>text_encoder_2</c> (bigG stand-in; the real one is 1280).</summary>
    public int Text2Hidden { get; init; } = 40;

    /// <summary>Depth of <c>text_encoder_2</c>; 32 as the real one, so <c>hidden_states.0…32</c> exist.</summary>
    public int Text2Layers { get; init; } = 32;

    /// <summary>Attention heads of <c>text_encoder_2</c>.</summary>
    public int Text2Heads { get; init; } = 2;

    /// <summary>MLP width of <c>text_encoder_2</c>.</summary>
    public int Text2Mlp { get; init; } = 80;

    /// <summary>Width of <c>text_embeds</c>, the projected pooled output of <c>text_encoder_2</c>.</summary>
    public int ProjectionDim { get; init; } = 40;

    /// <summary>UNet feature channels (one level; the real model has 320/640/1280).</summary>
    public int UnetChannels { get; init; } = 32;

    /// <summary>GroupNorm groups of the UNet (several channels per group, as SDXL's 32 groups over 320+ channels).</summary>
    public int UnetNormGroups { get; init; } = 8;

    /// <summary>Width of the UNet's time embedding (after the timestep MLP).</summary>
    public int UnetTimeEmbedDim { get; init; } = 64;

    /// <summary>Width of the sinusoidal embedding of each time id (<c>addition_time_embed_dim</c>; the real one is 256).</summary>
    public int AdditionTimeEmbedDim { get; init; } = 8;

    /// <summary>Attention heads of the UNet's cross-attention block.</summary>
    public int UnetHeads { get; init; } = 2;

    /// <summary>Latent side written to unet/config.json as <c>sample_size</c> (8 latents = 64 pixels); the graphs accept any size.</summary>
    public int SampleSize { get; init; } = 8;

    /// <summary>VAE feature channels.</summary>
    public int VaeChannels { get; init; } = 16;

    /// <summary>Seed of the weight streams; the same config gives the same bytes everywhere.</summary>
    public ulong Seed { get; init; } = 20251122;

    /// <summary>Latent channels of SDXL's VAE.</summary>
    public const int LatentChannels = 4;

    /// <summary>Pixel size per latent along each axis (three ×2 stages).</summary>
    public const int VaeScaleFactor = 8;

    /// <summary>SDXL's VAE <c>scaling_factor</c>.</summary>
    public const double ScalingFactor = 0.13025;

    /// <summary>Time ids per row for the base (<c>orig_h, orig_w, crop_top, crop_left, target_h, target_w</c>).</summary>
    public const int BaseTimeIds = 6;

    /// <summary>Time ids per row for the refiner (<c>orig_h, orig_w, crop_top, crop_left, aesthetic_score</c>).</summary>
    public const int RefinerTimeIds = 5;

    /// <summary>Width of the base UNet's <c>encoder_hidden_states</c>: both encoders' penultimate states side by side.</summary>
    public int BaseCrossAttentionDim => TextHidden + Text2Hidden;

    /// <summary>Width of the refiner UNet's <c>encoder_hidden_states</c>: <c>text_encoder_2</c> only.</summary>
    public int RefinerCrossAttentionDim => Text2Hidden;

    /// <summary><c>projection_class_embeddings_input_dim</c>: <c>addition_time_embed_dim · time ids + pooled width</c>.</summary>
    public int ProjectionClassEmbeddingsInputDim(int timeIds) => (AdditionTimeEmbedDim * timeIds) + ProjectionDim;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent setting.</summary>
    public void Validate()
    {
        Positive(TokenizerMerges, nameof(TokenizerMerges));
        Positive(MaxPositions, nameof(MaxPositions), 2);
        Positive(TextHidden, nameof(TextHidden));
        Positive(TextLayers, nameof(TextLayers), 2);
        Positive(TextHeads, nameof(TextHeads));
        Positive(TextMlp, nameof(TextMlp));
        Positive(Text2Hidden, nameof(Text2Hidden));
        Positive(Text2Layers, nameof(Text2Layers), 2);
        Positive(Text2Heads, nameof(Text2Heads));
        Positive(Text2Mlp, nameof(Text2Mlp));
        Positive(ProjectionDim, nameof(ProjectionDim));
        Positive(UnetChannels, nameof(UnetChannels));
        Positive(UnetNormGroups, nameof(UnetNormGroups));
        Positive(UnetTimeEmbedDim, nameof(UnetTimeEmbedDim));
        Positive(AdditionTimeEmbedDim, nameof(AdditionTimeEmbedDim), 2);
        Positive(UnetHeads, nameof(UnetHeads));
        Positive(SampleSize, nameof(SampleSize));
        Positive(VaeChannels, nameof(VaeChannels));
        Divides(TextHeads, TextHidden, nameof(TextHeads), nameof(TextHidden));
        Divides(Text2Heads, Text2Hidden, nameof(Text2Heads), nameof(Text2Hidden));
        Divides(UnetHeads, UnetChannels, nameof(UnetHeads), nameof(UnetChannels));
        Divides(UnetNormGroups, UnetChannels, nameof(UnetNormGroups), nameof(UnetChannels));
        Divides(2, AdditionTimeEmbedDim, "2 (cos and sin halves)", nameof(AdditionTimeEmbedDim));
        Divides(2, UnetChannels, "2 (cos and sin halves)", nameof(UnetChannels));
    }

    private static void Positive(int value, string name, int minimum = 1)
    {
        if (value < minimum)
        {
            throw new ArgumentException($"TinySdxlConfig.{name} must be at least {minimum}, not {value}.", name);
        }
    }

    private static void Divides(int divisor, int value, string divisorName, string valueName)
    {
        if (value % divisor != 0)
        {
            throw new ArgumentException($"TinySdxlConfig.{divisorName} ({divisor}) must divide {valueName} ({value}).", valueName);
        }
    }
}
