using SynthVlm.Imaging;
using SynthVlm.Recaptioning.Pool;
using SynthVlm.Recaptioning.Prompts;

namespace SynthVlm.Recaptioning;

/// <summary>What a <see cref="RecaptionJob"/> asks, how hard it works and where it writes. Validated when the job starts.</summary>
public sealed record RecaptionJobOptions
{
    /// <summary>The default cap on an image's encoded size: 64 MiB.</summary>
    public const long DefaultMaxImageBytes = 64L << 20;

    /// <summary>The default captions per pool shard.</summary>
    public const int DefaultShardSize = 10_000;

    /// <summary>The output folder. Required.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>The output files' prefix (see <see cref="PoolFiles"/>; default <c>pool</c>).</summary>
    public string FilePrefix { get; init; } = "pool";

    /// <summary>Captions per shard (default 10,000); 0 writes one file <c>{prefix}.jsonl</c>. A resume must use the same setting.</summary>
    public int ShardSize { get; init; } = DefaultShardSize;

    /// <summary>Captioner calls in flight at once (default 8). An endpoint client has its own HTTP limit too.</summary>
    public int Concurrency { get; init; } = 8;

    /// <summary>
    /// The reorder window: how far (in items) work may run ahead of the next item to write, which bounds the results
    /// held in memory whatever a slow item does. Null means four times <see cref="Concurrency"/>; at least
    /// <see cref="Concurrency"/>. Memory is about <c>Window × MaxImageBytes</c> for WebDataset input (images are held
    /// as bytes), plus <see cref="Concurrency"/> decoded images while they are checked.
    /// </summary>
    public int? Window { get; init; }

    /// <summary>The captioning instruction (default <see cref="CaptionPrompt.Detailed"/>).</summary>
    public CaptionPrompt Prompt { get; init; } = CaptionPrompt.Detailed;

    /// <summary>Length control (default: 256 tokens, no word limit, no trimming).</summary>
    public LengthControl Length { get; init; } = new();

    /// <summary>Sampling temperature (default 0: greedy, and cacheable by an endpoint client).</summary>
    public double Temperature { get; init; }

    /// <summary>
    /// Nucleus sampling's top-p sent with every request, in (0, 1]; 1 (the default) is off. Recorded in each pool
    /// line's <c>sampling.top_p</c>.
    /// </summary>
    public double TopP { get; init; } = 1;

    /// <summary>The sampling seed sent with every request, or null. A seed makes sampled calls cacheable.</summary>
    public int? Seed { get; init; }

    /// <summary>The largest encoded image accepted (default 64 MiB); larger ones are recorded as huge without being read.</summary>
    public long MaxImageBytes { get; init; } = DefaultMaxImageBytes;

    /// <summary>The most pixels an image may declare (default <see cref="ImageLimits.DefaultMaxPixels"/>); more is recorded as huge.</summary>
    public long MaxPixels { get; init; } = ImageLimits.DefaultMaxPixels;

    /// <summary>Whether each image is decoded before it is sent, so corrupt and oversized ones are recorded instead of captioned (default true).</summary>
    public bool ValidateImages { get; init; } = true;

    /// <summary>
    /// Where images read from containers (WebDataset shards) are kept as files, <c>{folder}/{id}.{png|jpg|webp}</c>,
    /// so the pool's <c>image</c> names a file that curation's image-text filters can open; null (the default) spools
    /// them only while they are captioned and writes <c>image</c> as null.
    /// </summary>
    public string? ExtractImagesDirectory { get; init; }

    /// <summary>
    /// The most distinct ids the job keeps track of (for duplicates and for resuming; 8-byte fingerprints, about 40
    /// bytes each in memory): 50 million by default. A job that meets more stops with a <see cref="RecaptionException"/>
    /// naming this option; what it wrote stays for a resume with a larger limit.
    /// </summary>
    public int MaxTrackedIds { get; init; } = 50_000_000;

    /// <summary>The window actually used.</summary>
    public int EffectiveWindow => Window ?? (4 * Concurrency);

    /// <summary>The output's file names.</summary>
    public PoolFiles Files => new(Path.GetFullPath(OutputDirectory!), FilePrefix, ShardSize);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first unusable option.</summary>
    public void Validate()
    {
        const string Name = nameof(RecaptionJobOptions);
        if (string.IsNullOrWhiteSpace(OutputDirectory))
        {
            throw new ArgumentException($"{Name}.{nameof(OutputDirectory)} is required.", nameof(OutputDirectory));
        }
        if (string.IsNullOrWhiteSpace(FilePrefix) || FilePrefix.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || FilePrefix.Contains('/', StringComparison.Ordinal))
        {
            throw new ArgumentException($"{Name}.{nameof(FilePrefix)} must be a plain file name; found '{FilePrefix}'.", nameof(FilePrefix));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(ShardSize, $"{Name}.{nameof(ShardSize)}");
        ArgumentOutOfRangeException.ThrowIfLessThan(Concurrency, 1, $"{Name}.{nameof(Concurrency)}");
        if (Window is { } window && window < Concurrency)
        {
            throw new ArgumentOutOfRangeException(nameof(Window), window, $"{Name}.{nameof(Window)} must be at least {nameof(Concurrency)} ({Concurrency}).");
        }
        ArgumentNullException.ThrowIfNull(Prompt, $"{Name}.{nameof(Prompt)}");
        ArgumentNullException.ThrowIfNull(Length, $"{Name}.{nameof(Length)}");
        Length.Validate();
        if (!double.IsFinite(Temperature) || Temperature < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, $"{Name}.{nameof(Temperature)} must be a finite number of at least 0.");
        }
        if (!(TopP > 0 && TopP <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, $"{Name}.{nameof(TopP)} must be in (0, 1] (1 = off).");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxImageBytes, 1, $"{Name}.{nameof(MaxImageBytes)}");
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPixels, 1, $"{Name}.{nameof(MaxPixels)}");
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxTrackedIds, 1, $"{Name}.{nameof(MaxTrackedIds)}");
    }
}

/// <summary>Where a running job stands; reported after each record is written.</summary>
/// <param name="Written">Records written this run (captions and rejects).</param>
/// <param name="Captioned">Captions written this run.</param>
/// <param name="Rejected">Rejects written this run.</param>
/// <param name="Resumed">Items skipped because an earlier run settled them.</param>
public sealed record RecaptionProgress(long Written, long Captioned, long Rejected, long Resumed);
