using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SynthVlm.Blobs;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.CurationService;

/// <summary>Wires the curation stage: the Runs API, pool ingestion and the rule-filter worker.</summary>
public static class CurationSetup
{
    /// <summary>Configuration section of <see cref="CurationOptions"/>.</summary>
    public const string Section = "SynthVlm:Curation";

    /// <summary>Registers the stage's services.</summary>
    public static void ConfigureServices(WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var paths = DataPaths.From(builder.Configuration);
        var options = new CurationOptions();
        builder.Configuration.GetSection(Section).Bind(options);
        options.Validate(Section);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(paths);
        builder.Services.AddSingleton(new FileBlobStore(paths.BlobRoot));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<CurationFilters>();
        builder.Services.AddSingleton<CurationRpcService>();
        builder.Services.AddSingleton<CaptionJudges>();
        var clipSetting = builder.Configuration[$"{Section}:ClipModel"];
        builder.Services.AddSingleton(new RawPairScorer(() =>
        {
            // Data-Juicer's image_text_similarity_filter uses CLIP ViT-B/32; the tiny model with
            // the same contract is written into the data folder when none is configured.
            var folder = clipSetting is { Length: > 0 } ? clipSetting : Clip.DefaultModels.EnsureTinyClip(Path.Combine(paths.ModelsDirectory, "tiny", "clip"));
            return Clip.ClipModel.Load(folder);
        }));
        builder.Services.AddSingleton(new CaptionImageMatcher(options.BlipModel));
        if (builder.Configuration[KnownEnvironment.RedisConnectionStringKey] is { Length: > 0 })
        {
            builder.Services.AddSingleton<RunsRpcService>();
            builder.Services.AddStreamWorker<PoolCaptionHandler>();
            builder.Services.AddHostedService<RunIngestor>();
            builder.Services.AddHostedService<CurationBarrier>();
        }
    }

    /// <summary>Maps the Curation gRPC service, and Runs when Redis is configured (runs live there).</summary>
    public static void ConfigureApp(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGrpcService<CurationRpcService>();
        if (app.Services.GetService<RunsRpcService>() is not null)
        {
            app.MapGrpcService<RunsRpcService>();
        }
    }
}

/// <summary>Settings of the curation stage.</summary>
public sealed class CurationOptions
{
    /// <summary>How often submitted runs are looked for.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How often the blob store is compared with Redis for runs Redis lost.</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the ingest lease lasts without renewal (a dead reader's run is taken over after it).</summary>
    public TimeSpan LeaseTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Pool records enqueued between checkpoints.</summary>
    public int IngestBatchSize { get; set; } = 256;

    /// <summary>Captions waiting in synthvlm:captions before ingestion waits (backpressure).</summary>
    public long MaxQueuedCaptions { get; set; } = 20_000;

    /// <summary>Curated captions waiting in synthvlm:curated for generation before curation waits (backpressure).</summary>
    public long MaxQueuedCurated { get; set; } = 2_000;

    /// <summary>
    /// A BLIP ITM model folder (itm.onnx, vocab.txt, blip_itm.json; eng/export_blip_itm.py writes one) for runs
    /// that ask for image–text matching; without it such runs are refused.
    /// </summary>
    public string? BlipModel { get; set; }

    /// <summary>Throws <see cref="StartupConfigurationException"/> naming a bad setting.</summary>
    public void Validate(string section)
    {
        if (PollInterval < TimeSpan.FromMilliseconds(10) || PollInterval > TimeSpan.FromMinutes(1))
        {
            throw new StartupConfigurationException($"{section}:PollInterval", $"{PollInterval} must be between 10 ms and 1 minute.");
        }
        if (LeaseTimeout < TimeSpan.FromSeconds(1))
        {
            throw new StartupConfigurationException($"{section}:LeaseTimeout", $"{LeaseTimeout} must be at least 1 second.");
        }
        if (IngestBatchSize is < 1 or > 100_000)
        {
            throw new StartupConfigurationException($"{section}:IngestBatchSize", $"{IngestBatchSize} must be between 1 and 100000.");
        }
        if (MaxQueuedCaptions < 1 || MaxQueuedCurated < 1)
        {
            throw new StartupConfigurationException($"{section}:MaxQueuedCaptions", $"{MaxQueuedCaptions} and MaxQueuedCurated ({MaxQueuedCurated}) must be at least 1.");
        }
        if (BlipModel is { Length: > 0 } blip && !File.Exists(Path.Combine(blip, Blip.BlipItmModel.ModelFileName)))
        {
            throw new StartupConfigurationException($"{section}:BlipModel", $"'{blip}' has no {Blip.BlipItmModel.ModelFileName}; expected a BLIP ITM folder (itm.onnx, vocab.txt, blip_itm.json) as eng/export_blip_itm.py writes it.");
        }
    }
}
