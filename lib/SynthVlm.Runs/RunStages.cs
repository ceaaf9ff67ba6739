namespace SynthVlm.Runs;

/// <summary>
/// The stages whose progress a run records, in pipeline order. Ingest and curation count pool
/// records (item = position in the pool); diffusion, scoring and selection count images
/// (item = position × variants + variant), so a failed variant is counted on its own.
/// </summary>
public static class RunStages
{
    /// <summary>Reading the caption pool (one item per record, malformed and duplicate ones dropped).</summary>
    public const string Ingest = "ingest";

    /// <summary>Rule filters (one item per caption; filtered captions dropped).</summary>
    public const string Curation = "curation";

    /// <summary>Image generation (one item per image).</summary>
    public const string Diffusion = "diffusion";

    /// <summary>CLIPScore + SSIMScore (one item per image).</summary>
    public const string Scoring = "scoring";

    /// <summary>Recording scores for selection (one item per image); the top K is taken when it is done.</summary>
    public const string Selection = "selection";

    /// <summary>All stages in pipeline order.</summary>
    public static IReadOnlyList<string> All { get; } = [Ingest, Curation, Diffusion, Scoring, Selection];

    /// <summary>Whether the stage counts images (rather than pool records).</summary>
    public static bool CountsImages(string stage) => stage is Diffusion or Scoring or Selection;
}

/// <summary>What a progress bit records about an item of a stage.</summary>
public enum ProgressMark
{
    /// <summary>The item was sent into the stage.</summary>
    Emitted,

    /// <summary>The stage finished the item (whatever the outcome).</summary>
    Processed,

    /// <summary>The stage dropped the item on purpose (filtered, duplicate, malformed).</summary>
    Dropped,

    /// <summary>The item failed permanently in the stage and was dead-lettered.</summary>
    Dead,
}

/// <summary>Item numbers of a run's images.</summary>
public static class RunItems
{
    /// <summary>Largest item number a progress bitmap can hold (Redis bit offsets are below 2^32).</summary>
    public const long MaxItem = (1L << 32) - 1;

    /// <summary>The item number of variant <paramref name="variant"/> of the caption at pool position <paramref name="captionIndex"/>.</summary>
    public static long Image(long captionIndex, int variant, int variants)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(captionIndex);
        ArgumentOutOfRangeException.ThrowIfNegative(variant);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(variant, variants);
        var item = (captionIndex * variants) + variant;
        ArgumentOutOfRangeException.ThrowIfGreaterThan(item, MaxItem, nameof(captionIndex));
        return item;
    }

    /// <summary>Most pool records a run with <paramref name="variants"/> variants per caption can number.</summary>
    public static long MaxPoolRecords(int variants) => (MaxItem + 1) / Math.Max(1, variants);
}
