using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SynthVlm.Blobs;
using SynthVlm.Diffusion;
using SynthVlm.Onnx;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.DiffusionService;

/// <summary>Wires the diffusion stage: models, generator, gRPC and the stream worker.</summary>
public static partial class DiffusionSetup
{
    /// <summary>Configuration section of the stage.</summary>
    public const string Section = "SynthVlm:Diffusion";

    /// <summary>Guidance when none is configured for SDXL: the official SynthVLM script's (configs/stable_diffusion_xl.json).</summary>
    public const double SdxlScriptGuidance = 20.0;

    /// <summary>Guidance when none is configured for SD3: the official SynthVLM script's (configs/stable_diffusion_3.json).</summary>
    public const double Sd3ScriptGuidance = 10.0;

    /// <summary>T5 prompt length for SD3 when none is configured: the official script's max_sequence_length.</summary>
    public const int Sd3ScriptMaxSequenceLength = 512;

    /// <summary>Registers the stage; loads the models now so a bad folder stops the start with one line.</summary>
    public static void ConfigureServices(WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        var paths = DataPaths.From(configuration);
        var defaults = new GenerationSettings
        {
            Width = configuration.GetValue($"{Section}:Width", 1024),
            Height = configuration.GetValue($"{Section}:Height", 1024),
            Steps = configuration.GetValue($"{Section}:Steps", 60),
            Guidance = configuration.GetValue($"{Section}:Guidance", SdxlScriptGuidance),
            RefinerStart = configuration.GetValue($"{Section}:RefinerStart", 0.8),
            NegativePrompt = configuration.GetValue<string?>($"{Section}:NegativePrompt", ""),
            RefinerStrength = configuration.GetValue($"{Section}:RefinerStrength", 0.3),
            RefinerStopsAtStart = configuration.GetValue($"{Section}:RefinerStopsAtStart", true),
            SkipT5 = configuration.GetValue($"{Section}:SkipT5", false),
            MaxSequenceLength = configuration.GetValue($"{Section}:MaxSequenceLength", 256),
        };
        try
        {
            defaults = defaults with { RefinerMode = RefinerModes.Parse(configuration.GetValue($"{Section}:RefinerMode", RefinerModes.HandOver)!) };
            defaults.Validate();
        }
        catch (ArgumentException e)
        {
            throw new StartupConfigurationException(Section, e.Message);
        }
        var batchSize = configuration.GetValue($"{Section}:BatchSize", 4);
        if (batchSize is < 1 or > 64)
        {
            throw new StartupConfigurationException($"{Section}:BatchSize", $"must be between 1 and 64; got {batchSize}");
        }
        var generator = LoadGenerator(configuration, paths, defaults, batchSize);
        builder.Services.AddSingleton(paths);
        builder.Services.AddSingleton(new FileBlobStore(paths.BlobRoot));
        builder.Services.AddSingleton(generator);
        builder.Services.AddSingleton<DiffusionRpcService>();
        if (configuration[KnownEnvironment.RedisConnectionStringKey] is { Length: > 0 })
        {
            builder.Services.AddStreamWorker<CuratedCaptionHandler>();
        }
    }

    /// <summary>Maps the Diffusion gRPC service.</summary>
    public static void ConfigureApp(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGrpcService<DiffusionRpcService>();
        var generator = app.Services.GetRequiredService<ImageGenerator>();
        LogModel(app.Logger, generator.Pipeline, generator.ModelId);
    }

    [Microsoft.Extensions.Logging.LoggerMessage(EventId = 720, Level = Microsoft.Extensions.Logging.LogLevel.Information, Message = "Diffusion pipeline {Pipeline}, model {Model}")]
    private static partial void LogModel(Microsoft.Extensions.Logging.ILogger logger, string pipeline, string model);

    /// <summary>
    /// Loads the base model named by BaseModel (the tiny SDXL when unset). A folder whose
    /// model_index.json names a Stable Diffusion 3 pipeline gets the SD3 pipeline, with text_encoder_3
    /// skipped when SkipT5 is set; it has no refiner, so a RefinerModel folder set with it stops the
    /// start naming that setting ("none" or unset is accepted). SDXL loads the refiner as before.
    /// </summary>
    private static ImageGenerator LoadGenerator(IConfiguration configuration, DataPaths paths, GenerationSettings defaults, int batchSize)
    {
        var options = new OnnxSessionSettings
        {
            IntraOpThreads = configuration.GetValue($"{Section}:IntraOpThreads", 0),
            Provider = configuration.GetValue($"{Section}:ExecutionProvider", ExecutionProvider.Cpu),
            Fallback = configuration.GetValue($"{Section}:ProviderFallback", ProviderFallback.FallbackToCpu),
        };
        var key = $"{Section}:BaseModel";
        try
        {
            var tiny = Path.Combine(paths.ModelsDirectory, "tiny");
            var baseFolder = configuration[key] is { Length: > 0 } b ? b : DefaultSdxlModels.EnsureTinyBase(Path.Combine(tiny, "sdxl-base"));
            if (Sd3Model.IsSd3Folder(baseFolder))
            {
                if (configuration[$"{Section}:RefinerModel"] is { Length: > 0 } refiner && refiner != "none")
                {
                    throw new StartupConfigurationException($"{Section}:RefinerModel",
                        $"{baseFolder} is a Stable Diffusion 3 model, which has no refiner; got refiner '{refiner}' (unset it or set it to none)");
                }
                // The official script's SD3 settings where none are configured: guidance 10 (its SDXL config
                // says 20) and T5 prompts up to 512 tokens (diffusers' default is 256).
                var sd3Defaults = defaults with
                {
                    Guidance = configuration.GetValue($"{Section}:Guidance", Sd3ScriptGuidance),
                    MaxSequenceLength = configuration.GetValue($"{Section}:MaxSequenceLength", Sd3ScriptMaxSequenceLength),
                };
                return new ImageGenerator(Sd3Model.Load(baseFolder, options, skipT5: defaults.SkipT5), sd3Defaults, batchSize);
            }
            var baseModel = SdxlModel.Load(baseFolder, options);
            key = $"{Section}:RefinerModel";
            var refinerSetting = configuration[key];
            if (refinerSetting is "none")
            {
                return new ImageGenerator(baseModel, null, defaults, batchSize);
            }
            var refinerFolder = refinerSetting is { Length: > 0 } ? refinerSetting : DefaultSdxlModels.EnsureTinyRefiner(Path.Combine(tiny, "sdxl-refiner"));
            return new ImageGenerator(baseModel, SdxlModel.Load(refinerFolder, options), defaults, batchSize);
        }
        catch (DiffusionException e)
        {
            throw new StartupConfigurationException(key, e.Message);
        }
        catch (OnnxProviderUnavailableException e)
        {
            throw new StartupConfigurationException($"{Section}:ExecutionProvider", e.Message);
        }
    }
}
