namespace SynthVlm.Curation.NearDuplicates;

/// <summary>
/// Parameters of MinHash LSH near-duplicate detection. Defaults are Data-Juicer's
/// document_minhash_deduplicator: space tokenization, lower-cased, shingles of 5 words,
/// 256 permutations, Jaccard threshold 0.7, bands and rows chosen for the threshold.
/// </summary>
public sealed record MinHashSettings
{
    /// <summary>Data-Juicer's window_size.</summary>
    public const int DefaultWindowSize = 5;

    /// <summary>Data-Juicer's num_permutations.</summary>
    public const int DefaultPermutations = 256;

    /// <summary>Data-Juicer's jaccard_threshold.</summary>
    public const double DefaultThreshold = 0.7;

    /// <summary>Words per shingle (window_size).</summary>
    public int WindowSize { get; init; } = DefaultWindowSize;

    /// <summary>Hash functions per signature (num_permutations).</summary>
    public int Permutations { get; init; } = DefaultPermutations;

    /// <summary>Two texts whose shingle sets have at least this Jaccard similarity are near-duplicates (jaccard_threshold).</summary>
    public double Threshold { get; init; } = DefaultThreshold;

    /// <summary>LSH bands; null picks them with <see cref="LshBanding.Optimal"/> (Data-Juicer's num_bands=None).</summary>
    public int? Bands { get; init; }

    /// <summary>Signature values per band; null picks them with the bands.</summary>
    public int? Rows { get; init; }

    /// <summary>Seed of the hash permutations: the same seed gives the same signatures in every process.</summary>
    public ulong Seed { get; init; } = 0x5EED_C0DE_2024UL;

    /// <summary>The defaults.</summary>
    public static MinHashSettings Default { get; } = new();

    /// <summary>
    /// Checks every field; throws <see cref="ArgumentException"/> whose ParamName is the field's name.
    /// </summary>
    public void Validate()
    {
        if (WindowSize < 1)
        {
            throw new ArgumentException($"{nameof(WindowSize)} must be at least 1 word; found {WindowSize}.", nameof(WindowSize));
        }
        if (Permutations is < 1 or > 4096)
        {
            throw new ArgumentException($"{nameof(Permutations)} must be between 1 and 4096; found {Permutations}.", nameof(Permutations));
        }
        if (double.IsNaN(Threshold) || Threshold <= 0 || Threshold > 1)
        {
            throw new ArgumentException($"{nameof(Threshold)} must be a Jaccard similarity in (0, 1]; found {Threshold}.", nameof(Threshold));
        }
        if (Bands is not null != Rows is not null)
        {
            throw new ArgumentException($"{nameof(Bands)} and {nameof(Rows)} must be given together or not at all; found {Bands?.ToString() ?? "null"} and {Rows?.ToString() ?? "null"}.", Bands is null ? nameof(Bands) : nameof(Rows));
        }
        if (Bands is { } b && Rows is { } r && (b < 1 || r < 1 || (long)b * r > Permutations))
        {
            throw new ArgumentException($"{nameof(Bands)} × {nameof(Rows)} must be positive and at most {nameof(Permutations)} ({Permutations}); found {b} × {r}.", nameof(Bands));
        }
    }
}
