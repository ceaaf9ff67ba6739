using StackExchange.Redis;
using StreamEntry = SynthVlm.Streams.StreamEntry;
using System.Collections.Concurrent;
using System.Globalization;
using Google.Protobuf;
using SynthVlm.Blobs;
using SynthVlm.Protos.V1;
using SynthVlm.Streams;
using SynthVlm.Runs;

namespace SynthVlm.Bench.Pipeline;

/// <summary>
/// The four stream handlers of a run with the model calls taken out: each does the plumbing its
/// service's handler does (CurationService/PoolCaptionHandler, DiffusionService/CuratedCaptionHandler,
/// ScoringService/GeneratedImageHandler, SelectionService/ScoredImageHandler) in the same order:
/// kind check and protobuf parse, run state through a <see cref="RunStateCache"/>, the next entry
/// through a <see cref="StreamProducer"/> made per entry, downstream "emitted" before own "processed",
/// and the fsync'd score record for the last stage. The services are not referenced because they
/// are hosts (ServiceDefaults, models); this keeps the measured work to plumbing alone.
/// </summary>
internal sealed class PipelineStages
{
    public const string PoolCaptionKind = "PoolCaption";
    public const string CuratedCaptionKind = "CuratedCaption";
    public const string GeneratedImageKind = "GeneratedImage";
    public const string ScoredImageKind = "ScoredImage";

    private const string ModelId = "zero-cost-sdxl";
    private const string ClipModel = "zero-cost-clip";

    private readonly StageConnections _connections;
    private readonly FileBlobStore _blobs;
    private readonly ScoreLogWriter _scores;
    private readonly ConcurrentDictionary<string, RunConfig> _configs = new(StringComparer.Ordinal);

    public PipelineStages(StageConnections connections, FileBlobStore blobs, ScoreLogWriter scores)
    {
        _connections = connections;
        _blobs = blobs;
        _scores = scores;
    }

    /// <summary>Stage 1 (curation): PoolCaption → CuratedCaption, every caption kept.</summary>
    public async Task CurateAsync(StreamEntry entry, CancellationToken cancellationToken)
    {
        var connection = _connections.Curation;
        var caption = Parse(entry, PoolCaptionKind, PoolCaption.Parser);
        var run = caption.Run.Length > 0 ? caption.Run : entry.Run;
        var store = new RunStore(connection.GetDatabase());
        var (work, tracked) = await CheckAsync(_connections.CurationStates, run, cancellationToken);
        if (!work)
        {
            return;
        }
        if (!tracked)
        {
            throw new PermanentStreamFailureException($"caption '{caption.CaptionId}': run '{run}' is not known.");
        }
        // The real handler reads the config through a per-run cache as well (CurationFilters.GetConfigAsync).
        if (!_configs.TryGetValue(run, out var config))
        {
            config = await store.GetConfigAsync(run, cancellationToken)
                ?? throw new PermanentStreamFailureException($"caption '{caption.CaptionId}': run '{run}' has no config.");
            _configs[run] = config;
        }
        var curated = new CuratedCaption
        {
            Run = run,
            CaptionId = caption.CaptionId,
            Caption = caption.Caption,
            Variants = config.Variants,
            RunSeed = config.Seed,
            Spec = config.Generation,
            CaptionIndex = caption.Index,
        };
        var producer = new StreamProducer(connection.GetDatabase());
        await producer.ProduceAsync(KnownStreams.Curated, run, CuratedCaptionKind, curated.ToByteArray(), cancellationToken);
        var images = Enumerable.Range(0, config.Variants).Select(v => RunItems.Image(caption.Index, v, config.Variants));
        await store.MarkAsync(run, RunStages.Diffusion, ProgressMark.Emitted, images, CancellationToken.None);
        await store.MarkAsync(run, RunStages.Curation, ProgressMark.Processed, caption.Index, CancellationToken.None);
    }

    /// <summary>Stage 2 (diffusion): CuratedCaption → one GeneratedImage per variant, no image made.</summary>
    public async Task GenerateAsync(StreamEntry entry, CancellationToken cancellationToken)
    {
        var connection = _connections.Diffusion;
        var curated = Parse(entry, CuratedCaptionKind, CuratedCaption.Parser);
        if (string.IsNullOrWhiteSpace(curated.Caption))
        {
            throw new PermanentStreamFailureException($"caption '{curated.CaptionId}' is empty.");
        }
        if (curated.Variants is < 1 or > 64)
        {
            throw new PermanentStreamFailureException($"caption '{curated.CaptionId}': variants must be between 1 and 64; got {curated.Variants}.");
        }
        var run = curated.Run.Length > 0 ? curated.Run : entry.Run;
        var (work, tracked) = await CheckAsync(_connections.DiffusionStates, run, cancellationToken);
        if (!work)
        {
            return;
        }
        var keys = new string[curated.Variants];
        for (var v = 0; v < keys.Length; v++)
        {
            keys[v] = BlobKey.GeneratedImage(run, curated.CaptionId, v);
            // The real handler stats each key to skip images a redelivery already wrote; kept as plumbing.
            _ = _blobs.Exists(keys[v]);
        }
        var store = new RunStore(connection.GetDatabase());
        var producer = new StreamProducer(connection.GetDatabase());
        for (var v = 0; v < curated.Variants; v++)
        {
            var record = new GeneratedImage
            {
                Run = run,
                CaptionId = curated.CaptionId,
                Caption = curated.Caption,
                Variant = v,
                ImageKey = keys[v],
                // Stands in for ImageGenerator.DeriveSeed (a hash of run seed, caption id and variant).
                Seed = unchecked((long)(curated.RunSeed + (ulong)((curated.CaptionIndex * curated.Variants) + v))),
                Model = ModelId,
                CaptionIndex = curated.CaptionIndex,
                Variants = curated.Variants,
                GenerateMs = 0,
            };
            record.Settings.Add(SettingsOf(curated.Spec));
            var item = tracked ? RunItems.Image(curated.CaptionIndex, v, curated.Variants) : -1;
            await producer.ProduceAsync(KnownStreams.Generated, run, GeneratedImageKind, record.ToByteArray(), cancellationToken);
            if (tracked)
            {
                await store.MarkAsync(run, RunStages.Scoring, ProgressMark.Emitted, item, CancellationToken.None);
                await store.MarkAsync(run, RunStages.Diffusion, ProgressMark.Processed, item, CancellationToken.None);
            }
        }
    }

    /// <summary>Stage 3 (scoring): GeneratedImage → ScoredImage with made-up, deterministic scores.</summary>
    public async Task ScoreAsync(StreamEntry entry, CancellationToken cancellationToken)
    {
        var connection = _connections.Scoring;
        var generated = Parse(entry, GeneratedImageKind, GeneratedImage.Parser);
        var run = generated.Run.Length > 0 ? generated.Run : entry.Run;
        var (work, tracked) = await CheckAsync(_connections.ScoringStates, run, cancellationToken);
        if (!work)
        {
            return;
        }
        if (!BlobKey.IsValid(generated.ImageKey))
        {
            throw new PermanentStreamFailureException($"caption '{generated.CaptionId}' variant {generated.Variant}: image_key '{generated.ImageKey}' is not a valid blob key.");
        }
        var (clip, ssim) = SyntheticScores(generated.CaptionIndex, generated.Variant);
        var scored = new ScoredImage
        {
            Image = generated,
            Score = new ScoreResult
            {
                Id = $"{generated.CaptionId}/{generated.Variant}",
                Clip = clip,
                Ssim = ssim,
                Weighted = clip + (0.5 * ssim),
                Cosine = clip,
                Lambda = 0.5,
                CaptionTokens = 12,
                Width = 1024,
                Height = 1024,
                Timings = new ScoreTimings { BatchSize = 1 },
            },
            ClipModel = ClipModel,
        };
        var producer = new StreamProducer(connection.GetDatabase());
        await producer.ProduceAsync(KnownStreams.Scored, entry.Run, ScoredImageKind, scored.ToByteArray(), cancellationToken);
        if (tracked)
        {
            var item = RunItems.Image(generated.CaptionIndex, generated.Variant, generated.Variants);
            var store = new RunStore(connection.GetDatabase());
            await store.MarkAsync(run, RunStages.Selection, ProgressMark.Emitted, item, CancellationToken.None);
            await store.MarkAsync(run, RunStages.Scoring, ProgressMark.Processed, item, CancellationToken.None);
        }
    }

    /// <summary>Stage 4 (selection): ScoredImage → its score record in the score log (group-committed fsync), counted as processed.</summary>
    public async Task RecordAsync(StreamEntry entry, CancellationToken cancellationToken)
    {
        var connection = _connections.Selection;
        var scored = Parse(entry, ScoredImageKind, ScoredImage.Parser);
        if (scored.Image is null || scored.Score is null)
        {
            throw new PermanentStreamFailureException("the ScoredImage has no image or no score.");
        }
        var image = scored.Image;
        var run = image.Run.Length > 0 ? image.Run : entry.Run;
        if (!RunConfigs.IsValidId(run))
        {
            throw new PermanentStreamFailureException($"caption '{image.CaptionId}' variant {image.Variant}: run '{run}' is not a valid run id.");
        }
        if (image.Variants < 1 || image.Variant < 0 || image.Variant >= image.Variants || image.CaptionIndex < 0 || image.CaptionIndex >= RunItems.MaxPoolRecords(image.Variants))
        {
            throw new PermanentStreamFailureException($"caption '{image.CaptionId}': variant {image.Variant} of {image.Variants} at pool position {image.CaptionIndex} is out of range.");
        }
        if (!double.IsFinite(scored.Score.Clip) || !double.IsFinite(scored.Score.Ssim))
        {
            throw new PermanentStreamFailureException($"caption '{image.CaptionId}' variant {image.Variant}: scores are not finite.");
        }
        var (work, tracked) = await CheckAsync(_connections.SelectionStates, run, cancellationToken);
        if (!work)
        {
            return;
        }
        await _scores.AppendAsync(run, image.CaptionIndex, image.Variant, scored.ToByteArray(), cancellationToken);
        if (tracked)
        {
            await new RunStore(connection.GetDatabase()).MarkAsync(run, RunStages.Selection, ProgressMark.Processed, RunItems.Image(image.CaptionIndex, image.Variant, image.Variants), CancellationToken.None);
        }
    }

    /// <summary>Made-up scores in the ranges CLIPScore and SSIM take, distinct per image so the top K is not all ties.</summary>
    public static (double Clip, double Ssim) SyntheticScores(long captionIndex, int variant)
    {
        var h = unchecked((ulong)((captionIndex * 64) + variant + 1) * 0x9E3779B97F4A7C15UL);
        h ^= h >> 29;
        h = unchecked(h * 0xBF58476D1CE4E5B9UL);
        h ^= h >> 32;
        var u = (h >> 11) * (1.0 / (1UL << 53));
        var w = ((h * 31) >> 11) * (1.0 / (1UL << 53));
        return (0.15 + (0.25 * u), 0.5 + (0.45 * w));
    }

    /// <summary>The same decision as ServiceDefaults' RunAccess.CheckAsync: (work, tracked).</summary>
    private static async Task<(bool Work, bool Tracked)> CheckAsync(RunStateCache states, string run, CancellationToken cancellationToken)
    {
        if (!RunConfigs.IsValidId(run))
        {
            return (true, false);
        }
        return await states.GetAsync(run, cancellationToken) switch
        {
            null => (true, false),
            RunState.Pending or RunState.Running or RunState.Writing => (true, true),
            _ => (false, true),
        };
    }

    private static T Parse<T>(StreamEntry entry, string kind, MessageParser<T> parser)
        where T : IMessage<T>
    {
        if (entry.Kind != kind)
        {
            throw new PermanentStreamFailureException($"entry kind '{entry.Kind}' is not {kind}.");
        }
        try
        {
            return parser.ParseFrom(entry.Data.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new PermanentStreamFailureException($"data is not a {kind} message: {e.Message}");
        }
    }

    private static Dictionary<string, string> SettingsOf(GenerationSpec? spec) => new()
    {
        ["width"] = (spec?.Width is > 0 ? spec.Width : 1024).ToString(CultureInfo.InvariantCulture),
        ["height"] = (spec?.Height is > 0 ? spec.Height : 1024).ToString(CultureInfo.InvariantCulture),
        ["steps"] = (spec?.Steps is > 0 ? spec.Steps : 60).ToString(CultureInfo.InvariantCulture),
        ["guidance"] = (spec?.HasGuidance == true ? spec.Guidance : 5.0).ToString("R", CultureInfo.InvariantCulture),
        ["negative_prompt"] = "(none)",
        ["refiner"] = "0.8",
        ["scheduler"] = "(model)",
    };
}

/// <summary>
/// One connection and one run-state cache per stage, as four services would each have their own
/// (the consumers open their blocking-read connections themselves).
/// </summary>
internal sealed class StageConnections : IAsyncDisposable
{
    private StageConnections(ConnectionMultiplexer[] connections)
    {
        Curation = connections[0];
        Diffusion = connections[1];
        Scoring = connections[2];
        Selection = connections[3];
        CurationStates = States(Curation);
        DiffusionStates = States(Diffusion);
        ScoringStates = States(Scoring);
        SelectionStates = States(Selection);
    }

    public ConnectionMultiplexer Curation { get; }

    public ConnectionMultiplexer Diffusion { get; }

    public ConnectionMultiplexer Scoring { get; }

    public ConnectionMultiplexer Selection { get; }

    public RunStateCache CurationStates { get; }

    public RunStateCache DiffusionStates { get; }

    public RunStateCache ScoringStates { get; }

    public RunStateCache SelectionStates { get; }

    public static async Task<StageConnections> ConnectAsync(RedisConnectionOptions options)
    {
        var connections = new ConnectionMultiplexer[4];
        for (var i = 0; i < connections.Length; i++)
        {
            connections[i] = await RedisConnections.ConnectAsync(options);
        }
        return new StageConnections(connections);
    }

    public async ValueTask DisposeAsync()
    {
        await Curation.DisposeAsync();
        await Diffusion.DisposeAsync();
        await Scoring.DisposeAsync();
        await Selection.DisposeAsync();
    }

    private static RunStateCache States(ConnectionMultiplexer connection)
    {
        var store = new RunStore(connection.GetDatabase());
        return new RunStateCache(store.GetStateAsync);
    }
}
