namespace SynthVlm.Clip.Tiny;

/// <summary>
/// Sizes of the tiny random CLIP. The defaults make a model of about 1.3 MB that keeps the
/// real B/32 input contract (224×224 pixels, 32×32 patches, 77 positions), so image
/// preprocessing and tokenization are exercised exactly as for the real model.
/// The last two token ids are <c>&lt;|startoftext|&gt;</c> and <c>&lt;|endoftext|&gt;</c>, as in
/// real CLIP, so the text tower pools at the argmax of the ids.
/// </summary>
public sealed record TinyClipConfig
{
    /// <summary>Token ids 0 … VocabSize−1, the last two being BOS and EOS. Must match the tokenizer written beside the model.</summary>
    public int VocabSize { get; init; } = 1024;

    /// <summary>Text transformer width.</summary>
    public int TextHidden { get; init; } = 32;

    /// <summary>Text transformer depth.</summary>
    public int TextLayers { get; init; } = 2;

    /// <summary>Text attention heads.</summary>
    public int TextHeads { get; init; } = 2;

    /// <summary>Text MLP width.</summary>
    public int TextMlp { get; init; } = 128;

    /// <summary>Longest token sequence (CLIP: 77).</summary>
    public int MaxPositions { get; init; } = 77;

    /// <summary>Input image side in pixels (B/32: 224); the graph accepts only this size.</summary>
    public int ImageSize { get; init; } = 224;

    /// <summary>Patch side in pixels; must divide <see cref="ImageSize"/>.</summary>
    public int PatchSize { get; init; } = 32;

    /// <summary>Vision transformer width.</summary>
    public int VisionHidden { get; init; } = 64;

    /// <summary>Vision transformer depth.</summary>
    public int VisionLayers { get; init; } = 2;

    /// <summary>Vision attention heads.</summary>
    public int VisionHeads { get; init; } = 4;

    /// <summary>Vision MLP width.</summary>
    public int VisionMlp { get; init; } = 256;

    /// <summary>Width of the shared embedding space (<c>projection_dim</c>).</summary>
    public int ProjectionDim { get; init; } = 32;

    /// <summary>log of the logit temperature; the default ln 100 makes logits 100·cos, as the OpenAI checkpoints.</summary>
    public float LogitScale { get; init; } = 4.6051702f;

    /// <summary>Seed of the weight stream; the same config gives the same bytes everywhere.</summary>
    public ulong Seed { get; init; } = 20240527;

    /// <summary><c>&lt;|startoftext|&gt;</c>: the second-to-last id.</summary>
    public int BosTokenId => VocabSize - 2;

    /// <summary><c>&lt;|endoftext|&gt;</c>: the last (largest) id.</summary>
    public int EosTokenId => VocabSize - 1;

    /// <summary>Padding id written to config.json: EOS, as the HF tokenizer of clip-vit-base-patch32 pads.</summary>
    public int PadTokenId => EosTokenId;

    /// <summary>Patches along one side.</summary>
    public int PatchesPerSide => ImageSize / PatchSize;

    /// <summary>Vision sequence length: the patches plus the class token.</summary>
    public int VisionPositions => (PatchesPerSide * PatchesPerSide) + 1;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent setting.</summary>
    public void Validate()
    {
        Positive(VocabSize, nameof(VocabSize), 3);
        Positive(TextHidden, nameof(TextHidden));
        Positive(TextLayers, nameof(TextLayers));
        Positive(TextHeads, nameof(TextHeads));
        Positive(TextMlp, nameof(TextMlp));
        Positive(MaxPositions, nameof(MaxPositions), 2);
        Positive(ImageSize, nameof(ImageSize));
        Positive(PatchSize, nameof(PatchSize));
        Positive(VisionHidden, nameof(VisionHidden));
        Positive(VisionLayers, nameof(VisionLayers));
        Positive(VisionHeads, nameof(VisionHeads));
        Positive(VisionMlp, nameof(VisionMlp));
        Positive(ProjectionDim, nameof(ProjectionDim));
        Divides(TextHeads, TextHidden, nameof(TextHeads), nameof(TextHidden));
        Divides(VisionHeads, VisionHidden, nameof(VisionHeads), nameof(VisionHidden));
        Divides(PatchSize, ImageSize, nameof(PatchSize), nameof(ImageSize));
        if (!float.IsFinite(LogitScale))
        {
            throw new ArgumentException($"TinyClipConfig.{nameof(LogitScale)} must be finite, not {LogitScale}.", nameof(LogitScale));
        }
    }

    private static void Positive(int value, string name, int minimum = 1)
    {
        if (value < minimum)
        {
            throw new ArgumentException($"TinyClipConfig.{name} must be at least {minimum}, not {value}.", name);
        }
    }

    private static void Divides(int divisor, int value, string divisorName, string valueName)
    {
        if (value % divisor != 0)
        {
            throw new ArgumentException($"TinyClipConfig.{divisorName} ({divisor}) must divide {valueName} ({value}).", divisorName);
        }
    }
}
