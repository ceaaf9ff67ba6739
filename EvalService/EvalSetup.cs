using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SynthVlm.ChatEndpoints;
using SynthVlm.Evaluation;
using SynthVlm.ServiceDefaults;
using SynthVlm.Vlm;
using SynthVlm.Vlm.Generation;
using SynthVlm.Vlm.Model;

namespace SynthVlm.EvalService;

/// <summary>Wires the eval stage: the job manager (one job at a time), the Eval gRPC service and the checkpoints worker.</summary>
public static partial class EvalSetup
{
    /// <summary>Configuration section of the stage's settings.</summary>
    public const string Section = "SynthVlm:Eval";

    /// <summary>Registers the stage's services; bad settings stop the start with one line naming the key.</summary>
    public static void ConfigureServices(WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        var paths = DataPaths.From(configuration);
        var settings = EvalSettings.Read(configuration, paths);
        builder.Services.AddSingleton(paths);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(_ => new EvaluationJobManager(model => OpenModel(model, settings)));
        builder.Services.AddSingleton<EvalRpcService>();
        if (configuration[KnownEnvironment.RedisConnectionStringKey] is { Length: > 0 })
        {
            builder.Services.AddStreamWorker<CheckpointReadyHandler>();
        }
    }

    /// <summary>Maps the Eval gRPC service.</summary>
    public static void ConfigureApp(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGrpcService<EvalRpcService>();
        var settings = app.Services.GetRequiredService<EvalSettings>();
        LogReady(app.Logger, settings.BenchDirectory ?? "(none: runs with eval.enabled need eval.bench_dir)");
    }

    [Microsoft.Extensions.Logging.LoggerMessage(EventId = 670, Level = Microsoft.Extensions.Logging.LogLevel.Information, Message = "evaluation jobs run one at a time; default benchmarks folder {BenchDir}")]
    private static partial void LogReady(Microsoft.Extensions.Logging.ILogger logger, string benchDir);

    /// <summary>A job's model: the checkpoint in-process (batched), or the endpoint.</summary>
    private static IChatModel OpenModel(EvaluationModel model, EvalSettings settings)
    {
        if (model.ModelDirectory is { Length: > 0 } folder)
        {
            var pipeline = LlavaPipeline.Open(folder, settings.Load);
            return new LlavaChatModel(pipeline, model.Name, model.BatchSize, ownsPipeline: true);
        }
        return EvaluationEndpoints.Open(model.Endpoint!, model.EndpointModel!, model.Concurrency, settings.CacheDirectory);
    }
}

/// <summary>
/// The stage's settings: the default benchmarks folder of runs that opt in ("SynthVlm:Eval:BenchDir"),
/// the output root of their evaluations ({data}/evaluations/runs), and how checkpoints load
/// (":DType" fp32|bf16, ":Device" cpu|cuda).
/// </summary>
/// <param name="BenchDirectory">The default benchmarks folder, or null.</param>
/// <param name="OutputRoot">Where runs' evaluations go ({root}/{run}).</param>
/// <param name="Load">How checkpoints are loaded.</param>
/// <param name="CacheDirectory">Reply caches of endpoints ({data}/evaluations/cache).</param>
public sealed record EvalSettings(string? BenchDirectory, string OutputRoot, LlavaLoadOptions Load, string CacheDirectory)
{
    /// <summary>Reads the section; throws <see cref="StartupConfigurationException"/> naming a bad key.</summary>
    public static EvalSettings Read(IConfiguration configuration, DataPaths paths)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(paths);
        var bench = configuration[$"{EvalSetup.Section}:BenchDir"] is { Length: > 0 } b ? Path.GetFullPath(b) : null;
        if (bench is not null && !Directory.Exists(bench))
        {
            throw new StartupConfigurationException($"{EvalSetup.Section}:BenchDir", $"{bench} does not exist.");
        }
        var root = configuration[$"{EvalSetup.Section}:OutputRoot"] is { Length: > 0 } r ? r : Path.Combine(paths.DataDirectory, "evaluations", "runs");
        var load = StartupConfigurationException.For(EvalSetup.Section, () => LlavaLoadOptions.FromSettings(configuration[$"{EvalSetup.Section}:DType"], configuration[$"{EvalSetup.Section}:Device"]));
        return new EvalSettings(bench, Path.GetFullPath(root), load, Path.Combine(paths.DataDirectory, "evaluations", "cache"));
    }
}
