using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SynthVlm.Blobs;
using SynthVlm.Clip;
using SynthVlm.Onnx;
using SynthVlm.Scoring;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.ScoringService;

/// <summary>Wires the scoring stage: settings, the CLIP model, the pair scorer, gRPC and the stream worker.</summary>
public static partial class ScoringSetup
{
    /// <summary>Configuration section of <see cref="PairScorerOptions"/> and the model settings.</summary>
    public const string Section = "SynthVlm:Scoring";

    /// <summary>Registers the stage's services; loads the model now so a bad folder stops the start with one line.</summary>
    public static void ConfigureServices(WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        var paths = DataPaths.From(configuration);
        var options = new PairScorerOptions();
        configuration.GetSection(Section).Bind(options);
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new StartupConfigurationException(Section, e.Message);
        }

        var model = LoadModel(configuration, paths);
        builder.Services.AddSingleton(paths);
        builder.Services.AddSingleton(new FileBlobStore(paths.BlobRoot));
        builder.Services.AddSingleton(model);
        builder.Services.AddSingleton(sp => new PairScorer(sp.GetRequiredService<ClipModel>(), options,
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILoggerFactory>().CreateLogger<PairScorer>()));
        builder.Services.AddSingleton<ScoringRpcService>();
        if (configuration[KnownEnvironment.RedisConnectionStringKey] is { Length: > 0 })
        {
            builder.Services.AddStreamWorker<GeneratedImageHandler>();
        }
    }

    /// <summary>Maps the Scoring gRPC service.</summary>
    public static void ConfigureApp(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGrpcService<ScoringRpcService>();
        var model = app.Services.GetRequiredService<ClipModel>();
        LogModel(app.Logger, model.Folder, model.Provider.ToString(), model.EmbeddingSize);
    }

    [Microsoft.Extensions.Logging.LoggerMessage(EventId = 620, Level = Microsoft.Extensions.Logging.LogLevel.Information, Message = "CLIP model {Folder} on {Provider} ({Dimension}-d embeddings)")]
    private static partial void LogModel(Microsoft.Extensions.Logging.ILogger logger, string folder, string provider, int dimension);

    private static ClipModel LoadModel(IConfiguration configuration, DataPaths paths)
    {
        var configured = configuration[$"{Section}:ClipModel"];
        var sessionOptions = new OnnxSessionSettings
        {
            IntraOpThreads = configuration.GetValue($"{Section}:IntraOpThreads", 0),
            Provider = configuration.GetValue($"{Section}:ExecutionProvider", ExecutionProvider.Cpu),
            Fallback = configuration.GetValue($"{Section}:ProviderFallback", ProviderFallback.FallbackToCpu),
        };
        try
        {
            var folder = configured is { Length: > 0 } ? configured : DefaultModels.EnsureTinyClip(Path.Combine(paths.ModelsDirectory, "tiny", "clip"));
            return ClipModel.Load(folder, sessionOptions);
        }
        catch (ClipModelException e)
        {
            throw new StartupConfigurationException($"{Section}:ClipModel", e.Message);
        }
        catch (OnnxProviderUnavailableException e)
        {
            throw new StartupConfigurationException($"{Section}:ExecutionProvider", e.Message);
        }
    }
}
