using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SynthVlm.ChatEndpoints;
using SynthVlm.Recaptioning;
using SynthVlm.ServiceDefaults;
using SynthVlm.Vlm;
using SynthVlm.Vlm.Generation;
using SynthVlm.Vlm.Model;

namespace SynthVlm.RecaptionService;

/// <summary>Wires the recaption stage: the job manager (one job at a time), the Recaption gRPC service and the images worker.</summary>
public static partial class RecaptionSetup
{
    /// <summary>Configuration section of the stage's settings.</summary>
    public const string Section = "SynthVlm:Recaption";

    /// <summary>Registers the stage's services; bad settings stop the start with one line naming the key.</summary>
    public static void ConfigureServices(WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        var paths = DataPaths.From(configuration);
        var settings = RecaptionSettings.Read(configuration, paths);
        builder.Services.AddSingleton(paths);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(_ => new RecaptionJobManager(request => OpenCaptioner(request, settings)));
        builder.Services.AddSingleton<RecaptionRpcService>();
        if (configuration[KnownEnvironment.RedisConnectionStringKey] is { Length: > 0 })
        {
            builder.Services.AddStreamWorker<RecaptionRequestHandler>();
        }
    }

    /// <summary>Maps the Recaption gRPC service.</summary>
    public static void ConfigureApp(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGrpcService<RecaptionRpcService>();
        var settings = app.Services.GetRequiredService<RecaptionSettings>();
        LogReady(app.Logger, settings.Describe());
    }

    [Microsoft.Extensions.Logging.LoggerMessage(EventId = 680, Level = Microsoft.Extensions.Logging.LogLevel.Information, Message = "recaption jobs run one at a time; default captioner {Captioner}")]
    private static partial void LogReady(Microsoft.Extensions.Logging.ILogger logger, string captioner);

    /// <summary>A job's captioner: the checkpoint in-process (batched), or the endpoint with a reply cache beside the pool.</summary>
    private static IChatModel OpenCaptioner(RecaptionJobRequest request, RecaptionSettings settings)
    {
        var captioner = request.Captioner;
        if (captioner.ModelDirectory is { Length: > 0 } folder)
        {
            var pipeline = LlavaPipeline.Open(folder, settings.Load);
            return new LlavaChatModel(pipeline, maxBatchSize: settings.BatchSize, ownsPipeline: true);
        }
        var options = request.Options;
        Directory.CreateDirectory(options.OutputDirectory!);
        return new OpenAiChatClient(new OpenAiChatOptions
        {
            Endpoint = captioner.Endpoint,
            Model = captioner.EndpointModel,
            MaxConcurrency = options.Concurrency,
            CacheFile = Path.Combine(options.OutputDirectory!, options.FilePrefix + ".cache.jsonl"),
        });
    }
}

/// <summary>
/// The stage's settings (section "SynthVlm:Recaption"): the default captioner of jobs and runs that
/// name none — ":ModelDir" (a LLaVA checkpoint) or ":Endpoint" + ":EndpointModel" (an
/// OpenAI-compatible endpoint); neither: the embedded tiny LLaVA, written once under
/// {data}/models/tiny/llava as TrainingService does — how checkpoints load (":DType" fp32|bf16,
/// ":Device" cpu|cuda) and the in-process micro-batch (":BatchSize", default 8).
/// </summary>
/// <param name="ModelDirectory">The default checkpoint, or null.</param>
/// <param name="Endpoint">The default endpoint, or null.</param>
/// <param name="EndpointModel">The default endpoint's model.</param>
/// <param name="TinyModelDirectory">Where the tiny LLaVA is written when nothing is configured.</param>
/// <param name="Load">How checkpoints are loaded.</param>
/// <param name="BatchSize">In-process micro-batch.</param>
public sealed record RecaptionSettings(string? ModelDirectory, Uri? Endpoint, string? EndpointModel, string TinyModelDirectory, LlavaLoadOptions Load, int BatchSize)
{
    /// <summary>Reads the section; throws <see cref="StartupConfigurationException"/> naming a bad key.</summary>
    public static RecaptionSettings Read(IConfiguration configuration, DataPaths paths)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(paths);
        var s = RecaptionSetup.Section;
        var model = configuration[$"{s}:ModelDir"] is { Length: > 0 } m ? Path.GetFullPath(m) : null;
        if (model is not null && !Directory.Exists(model))
        {
            throw new StartupConfigurationException($"{s}:ModelDir", $"{model} does not exist.");
        }
        Uri? endpoint = null;
        if (configuration[$"{s}:Endpoint"] is { Length: > 0 } e)
        {
            if (!Uri.TryCreate(e, UriKind.Absolute, out endpoint) || endpoint.Scheme is not ("http" or "https"))
            {
                throw new StartupConfigurationException($"{s}:Endpoint", $"'{e}' is not an http(s) URL.");
            }
        }
        var endpointModel = configuration[$"{s}:EndpointModel"] is { Length: > 0 } em ? em : null;
        if (endpoint is not null && endpointModel is null)
        {
            throw new StartupConfigurationException($"{s}:EndpointModel", "is required with an endpoint (the model it serves).");
        }
        if (endpoint is not null && model is not null)
        {
            throw new StartupConfigurationException($"{s}:Endpoint", "give ModelDir or Endpoint, not both.");
        }
        var batch = 8;
        if (configuration[$"{s}:BatchSize"] is { Length: > 0 } b && (!int.TryParse(b, System.Globalization.CultureInfo.InvariantCulture, out batch) || batch < 1))
        {
            throw new StartupConfigurationException($"{s}:BatchSize", $"'{b}' must be a whole number of at least 1.");
        }
        var load = StartupConfigurationException.For(s, () => LlavaLoadOptions.FromSettings(configuration[$"{s}:DType"], configuration[$"{s}:Device"]));
        return new RecaptionSettings(model, endpoint, endpointModel, Path.Combine(paths.ModelsDirectory, "tiny", "llava"), load, batch);
    }

    /// <summary>The captioner of a job that names none (the tiny LLaVA is written on first use).</summary>
    public RecaptionCaptioner DefaultCaptioner() =>
        Endpoint is not null ? new RecaptionCaptioner(null, Endpoint, EndpointModel)
            : new RecaptionCaptioner(ModelDirectory ?? Vlm.Tiny.TinyLlava.EnsureTiny(TinyModelDirectory), null, null);

    /// <summary>The default captioner in words.</summary>
    public string Describe() =>
        Endpoint is not null ? $"{EndpointModel} at {Endpoint}" : ModelDirectory ?? $"the tiny LLaVA ({TinyModelDirectory}, written on first use)";
}
