using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SynthVlm.ServiceDefaults;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Training;
using TorchSharp;

namespace SynthVlm.TrainingService;

/// <summary>Wires the training stage: the job manager (one job at a time), the Training gRPC service and the datasets worker.</summary>
public static partial class TrainingSetup
{
    /// <summary>Configuration section of the stage's settings.</summary>
    public const string Section = "SynthVlm:Training";

    /// <summary>Registers the stage's services; bad settings stop the start with one line naming the key.</summary>
    public static void ConfigureServices(WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        var paths = DataPaths.From(configuration);
        var load = LoadOptions(configuration);
        var auto = AutoTrainOptions.Read(configuration, paths);
        builder.Services.AddSingleton(paths);
        builder.Services.AddSingleton(auto);
        builder.Services.AddSingleton(_ => new TrainingJobManager(load));
        builder.Services.AddSingleton<TrainingRpcService>();
        if (configuration[KnownEnvironment.RedisConnectionStringKey] is { Length: > 0 })
        {
            builder.Services.AddStreamWorker<DatasetReadyHandler>();
        }
    }

    /// <summary>Maps the Training gRPC service.</summary>
    public static void ConfigureApp(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGrpcService<TrainingRpcService>();
        var paths = app.Services.GetRequiredService<DataPaths>();
        var auto = app.Services.GetRequiredService<AutoTrainOptions>();
        LogReady(app.Logger, paths.DataDirectory, auto.BaseModel.ModelDirectory ?? auto.BaseModel.VisionDirectory ?? $"the tiny LLaVA ({auto.TinyModelDirectory}, written on first use)");
    }

    [Microsoft.Extensions.Logging.LoggerMessage(EventId = 660, Level = Microsoft.Extensions.Logging.LogLevel.Information, Message = "training jobs run one at a time; data folder {Folder}; automatic training's default base model {BaseModel}")]
    private static partial void LogReady(Microsoft.Extensions.Logging.ILogger logger, string folder, string baseModel);

    private static LlavaLoadOptions LoadOptions(IConfiguration configuration) =>
        StartupConfigurationException.For(Section, () => LlavaLoadOptions.FromSettings(configuration[$"{Section}:DType"], configuration[$"{Section}:Device"]));
}

/// <summary>
/// Automatic training of runs' datasets: the base model a run's stage-1 job starts from when the
/// run's <c>train</c> settings name none ("SynthVlm:Training:AutoTrain:ModelDir", or
/// ":VisionDir" + ":LlmDir"; when neither is set, the embedded tiny LLaVA), and the output root
/// ({data}/training/runs by default).
/// </summary>
/// <param name="BaseModel">The default base model (may be empty).</param>
/// <param name="OutputRoot">Folder of the runs' job outputs ({root}/{run}/stage1).</param>
/// <param name="TinyModelDirectory">Where the tiny LLaVA is written when no base model is configured ({models}/tiny/llava).</param>
public sealed record AutoTrainOptions(TrainingBaseModel BaseModel, string OutputRoot, string TinyModelDirectory)
{
    /// <summary>Configuration section.</summary>
    public const string Section = TrainingSetup.Section + ":AutoTrain";

    /// <summary>Reads the section.</summary>
    public static AutoTrainOptions Read(IConfiguration configuration, DataPaths paths)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(paths);
        static string? Value(IConfiguration c, string key) => c[$"{Section}:{key}"] is { Length: > 0 } v ? v : null;
        var model = new TrainingBaseModel(Value(configuration, "ModelDir"), Value(configuration, "VisionDir"), Value(configuration, "LlmDir"), Value(configuration, "ProjectorPath"));
        if (model != new TrainingBaseModel())
        {
            try
            {
                model.Validate();
            }
            catch (ArgumentException e)
            {
                var key = e.ParamName switch
                {
                    nameof(TrainingBaseModel.VisionDirectory) => "VisionDir",
                    nameof(TrainingBaseModel.LanguageModelDirectory) => "LlmDir",
                    nameof(TrainingBaseModel.ProjectorPath) => "ProjectorPath",
                    _ => "ModelDir",
                };
                throw new StartupConfigurationException($"{Section}:{key}", e.Message);
            }
        }
        var root = Value(configuration, "OutputRoot") ?? Path.Combine(paths.DataDirectory, "training", "runs");
        return new AutoTrainOptions(model, Path.GetFullPath(root), Path.Combine(paths.ModelsDirectory, "tiny", "llava"));
    }
}
