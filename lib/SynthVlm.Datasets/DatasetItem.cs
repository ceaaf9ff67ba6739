namespace SynthVlm.Datasets;

/// <summary>
/// One selected image–caption pair, handed to <see cref="DatasetWriter.WriteAsync"/> in rank order
/// (best first). Everything except <see cref="Timings"/> ends up in <c>manifest.jsonl</c>.
/// </summary>
public sealed record DatasetItem
{
    /// <summary>The caption id exactly as the user gave it; any string (file names are derived safely from it).</summary>
    public required string Id { get; init; }

    /// <summary>The caption text, written as LLaVA's "gpt" turn and as the WebDataset <c>.txt</c> member.</summary>
    public required string Caption { get; init; }

    /// <summary>The blob key of the generated PNG, passed to the writer's <c>readImage</c> callback.</summary>
    public required string ImageKey { get; init; }

    /// <summary>Which of the caption's generated variants this image is.</summary>
    public required int Variant { get; init; }

    /// <summary>The diffusion seed that produced the image.</summary>
    public required ulong Seed { get; init; }

    /// <summary>CLIPScore of the pair.</summary>
    public required double Clip { get; init; }

    /// <summary>SSIMScore of the image.</summary>
    public required double Ssim { get; init; }

    /// <summary>The weighted score the selection ranked by (CLIPScore + λ·SSIMScore).</summary>
    public required double Weighted { get; init; }

    /// <summary>The λ the weighted score was computed with.</summary>
    public required double Lambda { get; init; }

    /// <summary>The raw CLIP cosine similarity behind <see cref="Clip"/>.</summary>
    public double Cosine { get; init; }

    /// <summary>Whether the caption was cut to CLIP's token limit before scoring.</summary>
    public bool CaptionTruncated { get; init; }

    /// <summary>The diffusion model that generated the image.</summary>
    public string GenerationModel { get; init; } = "";

    /// <summary>The CLIP model that scored the pair.</summary>
    public string ClipModel { get; init; } = "";

    /// <summary>Generation settings (steps, guidance, size, ...); written sorted by key (ordinal).</summary>
    public IReadOnlyDictionary<string, string> GenerationSettings { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Stage durations in seconds. Written only to <c>timings.jsonl</c>, never to the manifest, so
    /// that the manifest is byte-identical for the same selection.
    /// </summary>
    public IReadOnlyDictionary<string, double> Timings { get; init; } = new Dictionary<string, double>();
}
