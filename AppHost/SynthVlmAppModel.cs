using System.Diagnostics;
using System.Globalization;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SynthVlm.AppHost;

/// <summary>How the AppHost gets its Redis.</summary>
internal enum RedisMode
{
    /// <summary>A container where a container runtime answers, else a redis-server executable.</summary>
    Auto,

    /// <summary>Aspire.Hosting.Redis's container (needs docker or podman).</summary>
    Container,

    /// <summary>A redis-server executable resource with AOF under the data folder.</summary>
    Executable,
}

/// <summary>The resources of the SynthVlm app model, as <see cref="SynthVlmAppModel.Add"/> created them.</summary>
/// <param name="Redis">Redis: a container, a redis-server executable, or the user's server (a connection string).</param>
/// <param name="Services">Each service's project resource, by service name.</param>
/// <param name="RedisDescription">One line saying which Redis this is.</param>
internal sealed record SynthVlmResources(
    IResourceBuilder<IResourceWithConnectionString> Redis,
    IReadOnlyDictionary<string, IResourceBuilder<ProjectResource>> Services,
    string RedisDescription)
{
    /// <summary>The curation service: the front door of runs (the Runs API).</summary>
    public IResourceBuilder<ProjectResource> Curation => Services[KnownServices.Curation.Name];
}

/// <summary>
/// The SynthVlm cluster as a .NET Aspire app model: Redis, then every service as a project
/// resource with its replicas, a reference to Redis, WaitFor(Redis) and an HTTP health check.
/// Every verb builds the cluster from here, so the local and published clusters cannot drift.
/// </summary>
internal static class SynthVlmAppModel
{
    /// <summary>The resource name of Redis (ConnectionStrings__redis in the services).</summary>
    public const string RedisName = KnownEnvironment.RedisConnectionName;

    /// <summary>The name of each service's gRPC endpoint (from its appsettings.json).</summary>
    public const string GrpcEndpoint = "Grpc";

    /// <summary>The name of each service's HTTP/1.1 endpoint (health, browsers).</summary>
    public const string HttpEndpoint = "Http";

    /// <summary>The variable Aspire sets that makes services retry telemetry exports in memory.</summary>
    /// <remarks>With it, Ctrl+C takes 16–17 s: services retry their last export against the stopping dashboard until killed.</remarks>
    public const string OtlpRetryEnv = "OTEL_DOTNET_EXPERIMENTAL_OTLP_RETRY";

    /// <summary>Adds the cluster <paramref name="settings"/> describe to <paramref name="builder"/>.</summary>
    public static SynthVlmResources Add(IDistributedApplicationBuilder builder, AppHostSettings settings)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(settings);
        var (redis, description) = AddRedis(builder, settings);

        var services = new Dictionary<string, IResourceBuilder<ProjectResource>>(StringComparer.Ordinal);
        foreach (var service in KnownServices.All)
        {
            var project = AddServiceProject(builder, service)
                .WithReplicas(settings.ReplicasOf(service))
                .WithReference(redis)
                .WaitFor(redis)
                .WithHttpHealthCheck("/health", endpointName: HttpEndpoint)
                // One data folder for the whole cluster: the blob store and the default (tiny) models.
                .WithEnvironment(KnownEnvironment.DataDirectory, settings.DataDirectory)
                // A replica whose AppHost is gone (killed, not stopped) stops itself within a second
                // instead of waiting for DCP's cleanup.
                .WithEnvironment(KnownEnvironment.ParentPid, Environment.ProcessId.ToString(CultureInfo.InvariantCulture))
                .WithEnvironment(context => context.EnvironmentVariables.Remove(OtlpRetryEnv));
            if (settings.OtlpEndpoint is { } otlp)
            {
                // The user's collector instead of the dashboard.
                project.WithEnvironment(KnownEnvironment.OtlpEndpoint, otlp.ToString().TrimEnd('/'));
            }
            services[service.Name] = project;
        }
        return new SynthVlmResources(redis, services, description);
    }

    /// <summary>
    /// Adds <paramref name="service"/> through the project metadata the Aspire SDK generates from the
    /// project references: those say the AppHost's build built them, so replicas start with
    /// `dotnet run --no-build` instead of each building the shared libraries again, concurrently.
    /// </summary>
    private static IResourceBuilder<ProjectResource> AddServiceProject(IDistributedApplicationBuilder builder, ServiceInfo service)
    {
        if (service == KnownServices.Curation)
        {
            return builder.AddProject<Projects.CurationService>(service.Name);
        }
        if (service == KnownServices.Diffusion)
        {
            return builder.AddProject<Projects.DiffusionService>(service.Name);
        }
        if (service == KnownServices.Scoring)
        {
            return builder.AddProject<Projects.ScoringService>(service.Name);
        }
        if (service == KnownServices.Selection)
        {
            return builder.AddProject<Projects.SelectionService>(service.Name);
        }
        if (service == KnownServices.Training)
        {
            return builder.AddProject<Projects.TrainingService>(service.Name);
        }
        if (service == KnownServices.Eval)
        {
            return builder.AddProject<Projects.EvalService>(service.Name);
        }
        throw new ArgumentException($"'{service.Name}' has no project reference in AppHost.csproj.", nameof(service));
    }

    private static (IResourceBuilder<IResourceWithConnectionString> Redis, string Description) AddRedis(IDistributedApplicationBuilder builder, AppHostSettings settings)
    {
        if (settings.RedisConnectionString is { } external)
        {
            // The user's server: services get the string as it is (ConnectionStrings__redis).
            builder.Configuration[$"ConnectionStrings:{RedisName}"] = external;
            var existing = builder.AddConnectionString(RedisName);
            return (existing, "an existing Redis (--redis / ConnectionStrings__redis)");
        }
        var mode = settings.RedisMode == RedisMode.Auto
            ? (ContainerRuntime.IsHealthy() ? RedisMode.Container : RedisMode.Executable)
            : settings.RedisMode;
        var dataDirectory = Path.Combine(settings.DataDirectory, "redis");
        if (mode == RedisMode.Container)
        {
            var container = builder.AddRedis(RedisName)
                .WithDataBindMount(dataDirectory)
                .WithArgs("--appendonly", "yes", "--appendfsync", "everysec");
            return (AsConnectionString(container), $"Aspire.Hosting.Redis's container, AOF in {dataDirectory}");
        }

        var server = RedisServerBinary.Locate() ?? throw new AppHostStartException(RedisServerBinary.MissingMessage());
        Directory.CreateDirectory(dataDirectory);
        var password = ParameterResourceBuilderExtensions.CreateDefaultPasswordParameter(builder, RedisName + "-password", special: false);
        var resource = new RedisServerResource(RedisName, server, dataDirectory, password);
        var healthCheck = RedisName + "-ping";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(healthCheck, new RedisPingHealthCheck(resource), failureStatus: null, tags: null));
        var executable = builder.AddResource(resource)
            .WithEndpoint(name: RedisServerResource.EndpointName, scheme: "tcp")
            .WithArgs(context =>
            {
                context.Args.Add("--port");
                context.Args.Add(resource.Endpoint.Property(EndpointProperty.TargetPort));
                foreach (var arg in new[] { "--bind", "127.0.0.1", "--protected-mode", "yes", "--dir", dataDirectory, "--appendonly", "yes", "--appendfsync", "everysec", "--save", string.Empty, "--requirepass" })
                {
                    context.Args.Add(arg);
                }
                context.Args.Add(password);
            })
            .WithHealthCheck(healthCheck);
        return (AsConnectionString(executable), $"redis-server {server}, AOF in {dataDirectory}");
    }

    private static IResourceBuilder<IResourceWithConnectionString> AsConnectionString<T>(IResourceBuilder<T> builder) where T : IResourceWithConnectionString =>
        (IResourceBuilder<IResourceWithConnectionString>)(object)builder;
}

/// <summary>Finds the redis-server binary for the executable resource.</summary>
internal static class RedisServerBinary
{
    /// <summary>The variable that names the redis-server binary to run instead of looking on PATH.</summary>
    public const string Env = "SYNTHVLM_REDIS_SERVER";

    /// <summary>The binary, or null when none is installed (or the one named by <see cref="Env"/> is missing).</summary>
    public static string? Locate()
    {
        if (Environment.GetEnvironmentVariable(Env) is { Length: > 0 } configured)
        {
            return File.Exists(configured) ? configured : null;
        }
        return (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "redis-server"))
            .Append("/usr/bin/redis-server")
            .Append("/usr/sbin/redis-server")
            .FirstOrDefault(File.Exists);
    }

    /// <summary>What to do about a missing binary, in one message.</summary>
    public static string MissingMessage() =>
        (Environment.GetEnvironmentVariable(Env) is { Length: > 0 } configured ? $"redis-server is not at {Env}={configured}. " : "redis-server is not installed and no container runtime answers. ") +
        "Install it with `bash eng/provision.sh` (or `sudo apt-get install redis-server`), " +
        "or point the AppHost at an existing server with --redis host:port[,password=...] (or ConnectionStrings__redis).";
}

/// <summary>Whether a container runtime (docker, or the one ASPIRE_CONTAINER_RUNTIME names) answers.</summary>
internal static class ContainerRuntime
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>True when `docker info` (or podman's) succeeds within a few seconds.</summary>
    public static bool IsHealthy()
    {
        var runtime = Environment.GetEnvironmentVariable("ASPIRE_CONTAINER_RUNTIME") is { Length: > 0 } named ? named : "docker";
        try
        {
            using var process = Process.Start(new ProcessStartInfo(runtime, "info")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (process is null)
            {
                return false;
            }
            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(ProbeTimeout))
            {
                process.Kill(entireProcessTree: true);
                return false;
            }
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Not installed.
            return false;
        }
    }
}

/// <summary>The app model cannot be built as asked (a missing binary, say); the message says what to do.</summary>
internal sealed class AppHostStartException(string message) : Exception(message);
