using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace SynthVlm.ServiceDefaults;

/// <summary>
/// Runs a SynthVlm service: validated settings, telemetry, health, the gRPC host with the
/// platform services, and Redis. A service's Program.cs is one call to <see cref="Run"/>.
/// </summary>
public static partial class ServiceHost
{
    /// <summary>Exit code when configuration is missing or malformed.</summary>
    public const int ConfigurationErrorExitCode = 2;

    /// <summary>Builds and runs the service until it is stopped.</summary>
    /// <param name="args">Command-line arguments (configuration overrides).</param>
    /// <param name="service">The stage this process runs.</param>
    /// <param name="configureServices">Adds the stage's own services (gRPC services, stream handlers).</param>
    /// <param name="configureApp">Maps the stage's own endpoints.</param>
    /// <returns>The process exit code.</returns>
    public static int Run(string[] args, ServiceInfo service, Action<WebApplicationBuilder>? configureServices = null, Action<WebApplication>? configureApp = null)
    {
        ArgumentNullException.ThrowIfNull(service);
        try
        {
            using var app = Build(args, service, configureServices, configureApp);
            app.Run();
            return 0;
        }
        catch (StartupConfigurationException e)
        {
            Console.Error.WriteLine($"{service.ProjectName}: {e.Message}");
            return ConfigurationErrorExitCode;
        }
        catch (OptionsValidationException e)
        {
            Console.Error.WriteLine($"{service.ProjectName}: invalid settings: {string.Join("; ", e.Failures)}");
            return ConfigurationErrorExitCode;
        }
        catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException || e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"{service.ProjectName}: cannot listen: {e.Message} (set {KnownEnvironment.GrpcEndpointUrlEnv} / {KnownEnvironment.HttpEndpointUrlEnv} to free ports)");
            return ConfigurationErrorExitCode;
        }
    }

    /// <summary>Builds the service without running it (tests, tools).</summary>
    /// <exception cref="StartupConfigurationException">A setting is missing or malformed.</exception>
    public static WebApplication Build(string[] args, ServiceInfo service, Action<WebApplicationBuilder>? configureServices = null, Action<WebApplication>? configureApp = null)
    {
        ArgumentNullException.ThrowIfNull(service);
        // Content root next to the binary, so appsettings.json is found whatever the working folder.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        var settings = ServiceSettings.Read(builder.Configuration);
        var identity = new ServiceIdentity(service, builder.Configuration[KnownEnvironment.InstanceName]);

        // One line per entry: the AppHost and log collectors read lines.
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.UseUtcTimestamp = true;
        });
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(identity);
        builder.Services.AddSynthVlmTelemetry(builder.Logging, identity, settings.OtlpEndpoint);

        var health = builder.Services.AddHealthChecks()
            .AddCheck("self", () => Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy(), [HealthReporting.LiveTag]);
        if (settings.Redis is not null)
        {
            RedisClientHost.AddTo(builder, settings.Redis);
            builder.Services.AddSingleton<RunAccess>();
        }

        builder.Services.AddSynthVlmGrpc(service.Name);
        builder.Services.AddHostedService<ParentProcessWatch>();
        builder.Services.AddSingleton<StageQueues>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<StageQueues>());
        builder.Services.AddSingleton<WorkerRpcService>();

        configureServices?.Invoke(builder);
        var workers = builder.Services.Where(d => d.ServiceType == typeof(StreamWorkerRegistration))
            .Select(d => ((StreamWorkerRegistration)d.ImplementationInstance!).HandlerType.Name).ToList();
        if (workers.Count > 0 && settings.Redis is null)
        {
            throw new StartupConfigurationException(KnownEnvironment.RedisConnectionStringKey,
                $"is missing; the {service.Name} stage consumes {service.InputStream} ({string.Join(", ", workers)}) and needs Redis (host:port[,password=...]).");
        }

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapSynthVlmGrpc();
        configureApp?.Invoke(app);

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(service.ProjectName);
        app.Lifetime.ApplicationStarted.Register(() =>
            LogStarted(logger, service.Name, identity.Instance, settings.GrpcUrl.ToString(), settings.HttpUrl.ToString(),
                settings.Redis?.ToString() ?? "(none)", service.InputStream,
                workers.Count == 0 ? "no stream handler in this stage yet: it has no work" : "handled by " + string.Join(", ", workers)));
        return app;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "{Service} ({Instance}) serving gRPC on {GrpcUrl} and health on {HttpUrl}; Redis {Redis}; input stream {Stream}: {Work}")]
    private static partial void LogStarted(ILogger logger, string service, string instance, string grpcUrl, string httpUrl, string redis, string stream, string work);
}
