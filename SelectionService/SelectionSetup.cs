using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using SynthVlm.Blobs;
using SynthVlm.Runs;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.SelectionService;

/// <summary>Wires the selection stage: the blob store, the scored-image worker and the run finalizer.</summary>
public static class SelectionSetup
{
    /// <summary>Configuration section of <see cref="SelectionOptions"/>.</summary>
    public const string Section = "SynthVlm:Selection";

    /// <summary>Registers the stage's services.</summary>
    public static void ConfigureServices(WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var paths = DataPaths.From(builder.Configuration);
        var options = new SelectionOptions();
        builder.Configuration.GetSection(Section).Bind(options);
        if (options.PollInterval < TimeSpan.FromMilliseconds(50) || options.PollInterval > TimeSpan.FromMinutes(1))
        {
            throw new StartupConfigurationException($"{Section}:PollInterval", $"{options.PollInterval} must be between 50 ms and 1 minute.");
        }
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(paths);
        var blobs = new FileBlobStore(paths.BlobRoot);
        builder.Services.AddSingleton(blobs);
        // One score log writer per replica, its segments named after the replica.
        builder.Services.AddSingleton(sp => new ScoreLogWriter(blobs, sp.GetRequiredService<ServiceIdentity>().Instance));
        if (builder.Configuration[KnownEnvironment.RedisConnectionStringKey] is { Length: > 0 })
        {
            builder.Services.AddStreamWorker<ScoredImageHandler>();
            builder.Services.AddHostedService<RunFinalizer>();
        }
    }
}

/// <summary>Settings of the selection stage.</summary>
public sealed class SelectionOptions
{
    /// <summary>How often active runs are checked for a finished selection stage.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How long the dataset-writing lease lasts without renewal (a dead writer's run is taken over after it).</summary>
    public TimeSpan LeaseTimeout { get; set; } = TimeSpan.FromSeconds(20);
}
