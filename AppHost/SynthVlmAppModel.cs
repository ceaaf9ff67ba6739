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
/// <param name="Web">The web front end: SynthVlm's own views (runs, progress, dead letters, gallery).</param>
/// <param name="RedisDescription">One line saying which Redis this is.</param>
internal sealed record SynthVlmResources(
    IResourceBuilder<IResourceWithConnectionString> Redis,
    IReadOnlyDictionary<string, IResourceBuilder<ProjectResource>> Services,
    IResourceBuilder<ProjectResource> Web,
    string RedisDescription)
{
    /// <summary>Every project resource: the services in pipeline order, then the web front end.</summary>
    public IEnumerable<IResourceBuilder<ProjectResource>> Projects => Services.Values.Append(Web);

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

    /// <summary>The diffusion service's base model setting, as an environment variable (set by --model).</summary>
    public const string DiffusionBaseModelEnv = "SynthVlm__Diffusion__BaseModel";

    /// <summary>The diffusion service's refiner setting, as an environment variable ("none" with --model unless the environment names one).</summary>
    public const string DiffusionRefinerModelEnv = "SynthVlm__Diffusion__RefinerModel";

    /// <summary>The curation service's BLIP ITM model folder, set by --blip-model.</summary>
    public const string CurationBlipModelEnv = "SynthVlm__Curation__BlipModel";

    /// <summary>The diffusion service's SkipT5 setting, set by --skip-t5.</summary>
    public const string DiffusionSkipT5Env = "SynthVlm__Diffusion__SkipT5";

    /// <summary>The name of each service's gRPC endpoint (from its appsettings.json).</summary>
    public const string GrpcEndpoint = "Grpc";

    /// <summary>The name of each service's HTTP/1.1 endpoint (health, browsers).</summary>
    public const string HttpEndpoint = "Http";

    /// <summary>The resource name of the web front end.</summary>
    public const string WebName = "web";

    /// <summary>How the web front end's link reads on the dashboard's resource page.</summary>
    public const string WebLinkText = "SynthVlm runs & gallery";

    /// <summary>The web front end's login token setting.</summary>
    public const string WebTokenEnv = "SynthVlm__Web__Token";

    /// <summary>The web front end's link back to the Aspire dashboard.</summary>
    public const string WebDashboardLinkEnv = "SynthVlm__Web__AspireDashboardUrl";

    /// <summary>The variable Aspire sets that makes services retry telemetry exports in memory.</summary>
    /// <remarks>With it, Ctrl+C takes 16–17 s: services retry their last export against the stopping dashboard until killed.</remarks>
    public const string OtlpRetryEnv = "OTEL_DOTNET_EXPERIMENTAL_OTLP_RETRY";

    /// <summary>Adds the cluster <paramref name="settings"/> describe to <paramref name="builder"/>.</summary>
    /// <param name="builder">The app model to add to.</param>
    /// <param name="settings">Replicas, Redis, data folder, telemetry.</param>
    /// <param name="dashboardUrl">The Aspire dashboard's address, linked from the web front end (run mode).</param>
    /// <exception cref="AppHostStartException">Redis cannot be run here (no container runtime, no redis-server); not when publishing.</exception>
    public static SynthVlmResources Add(IDistributedApplicationBuilder builder, AppHostSettings settings, Uri? dashboardUrl = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(settings);
        var (redis, description) = AddRedis(builder, settings);

        var services = new Dictionary<string, IResourceBuilder<ProjectResource>>(StringComparer.Ordinal);
        foreach (var service in KnownServices.All)
        {
            services[service.Name] = Common(AddServiceProject(builder, service).WithReplicas(settings.ReplicasOf(service)), builder, settings, redis);
        }

        if (settings.DiffusionModel is { } model)
        {
            // --model: the base model, and no refiner (the tiny SDXL refiner does not fit a real base; SD3 has none)
            // unless the environment names one.
            services[KnownServices.Diffusion.Name].WithEnvironment(DiffusionBaseModelEnv, model)
                .WithEnvironment(context => context.EnvironmentVariables.TryAdd(DiffusionRefinerModelEnv, Environment.GetEnvironmentVariable(DiffusionRefinerModelEnv) is { Length: > 0 } r ? r : "none"));
            if (settings.SkipT5)
            {
                services[KnownServices.Diffusion.Name].WithEnvironment(DiffusionSkipT5Env, "true");
            }
        }

        var curation = services[KnownServices.Curation.Name];
        if (settings.BlipModel is { } blip)
        {
            curation.WithEnvironment(CurationBlipModelEnv, blip);
        }
        var web = Common(builder.AddProject<Projects.WebFrontend>(WebName), builder, settings, redis)
            // The Runs API, found by service discovery (http://_grpc.curation).
            .WithReference(curation)
            .WaitFor(curation);
        if (builder.ExecutionContext.IsRunMode)
        {
            // A token of this start, so the link on the dashboard's resource page logs straight in.
            // (Published clusters do not get one baked in: there the front end makes and logs its own.)
            var token = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
            web.WithEnvironment(WebTokenEnv, token)
                .WithUrls(context =>
                {
                    // Aspire names this endpoint "http" (from Kestrel:Endpoints:Http); WithUrlForEndpoint
                    // matches names case-sensitively, so match either spelling here.
                    foreach (var url in context.Urls.Where(u => string.Equals(u.Endpoint?.EndpointName, HttpEndpoint, StringComparison.OrdinalIgnoreCase)))
                    {
                        url.Url = url.Url.TrimEnd('/') + "/login?t=" + token;
                        url.DisplayText = WebLinkText;
                    }
                });
            if (dashboardUrl is not null)
            {
                web.WithEnvironment(WebDashboardLinkEnv, dashboardUrl.ToString().TrimEnd('/'));
            }
        }
        return new SynthVlmResources(redis, services, web, description);
    }

    /// <summary>What every project resource gets: Redis, the data folder, health, telemetry settings.</summary>
    private static IResourceBuilder<ProjectResource> Common(IResourceBuilder<ProjectResource> project, IDistributedApplicationBuilder builder, AppHostSettings settings, IResourceBuilder<IResourceWithConnectionString> redis)
    {
        // Aspire takes the ports of appsettings.json (the defaults for running a service alone) as
        // the proxy's ports; two clusters on one machine (two data folders, tests) would then take
        // each other's. DCP picks free ones instead; the AppHost prints them.
        foreach (var endpoint in project.Resource.Annotations.OfType<EndpointAnnotation>())
        {
            endpoint.Port = null;
        }
        project.WithReference(redis)
            .WaitFor(redis)
            .WithHttpHealthCheck("/health", endpointName: HttpEndpoint)
            // One data folder for the whole cluster: the blob store and the default (tiny) models.
            .WithEnvironment(KnownEnvironment.DataDirectory, settings.DataDirectory)
            .WithEnvironment(context => context.EnvironmentVariables.Remove(OtlpRetryEnv));
        if (builder.ExecutionContext.IsRunMode)
        {
            // A replica whose AppHost is gone (killed, not stopped) stops itself within a second
            // instead of waiting for DCP's cleanup.
            project.WithEnvironment(KnownEnvironment.ParentPid, Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        }
        if (settings.OtlpEndpoint is { } otlp)
        {
            // The user's collector instead of the dashboard.
            project.WithEnvironment(KnownEnvironment.OtlpEndpoint, otlp.ToString().TrimEnd('/'));
        }
        return project;
    }

    /// <summary>
    /// Adds <paramref name="service"/> through the project metadata the Aspire SDK generates from the
    /// project references: those say the AppHost's build built them, so replicas start with
    /// `dotnet run --no-build` instead of each building the shared libraries again, concurrently.
    /// </summary>
    private static IResourceBuilder<ProjectResource> AddServiceProject(IDistributedApplicationBuilder builder, ServiceInfo service)
    {
        if (service == KnownServices.Recaption)
        {
            return builder.AddProject<Projects.RecaptionService>(service.Name);
        }
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
        var publishing = builder.ExecutionContext.IsPublishMode;
        var mode = settings.RedisMode switch
        {
            // Publishing needs no runtime and no binary: either resource becomes the same managed Redis.
            RedisMode.Auto when publishing => RedisMode.Executable,
            RedisMode.Auto => ContainerRuntime.IsHealthy() ? RedisMode.Container : RedisMode.Executable,
            var chosen => chosen,
        };
        var dataDirectory = Path.Combine(settings.DataDirectory, "redis");
        if (mode == RedisMode.Container)
        {
            var container = builder.AddRedis(RedisName)
                .WithDataBindMount(dataDirectory)
                .WithArgs("--appendonly", "yes", "--appendfsync", "everysec");
            return (AsConnectionString(container), $"Aspire.Hosting.Redis's container, AOF in {dataDirectory}");
        }

        var server = RedisServerBinary.Locate() ?? (publishing ? "redis-server" : throw new AppHostStartException(RedisServerBinary.MissingMessage()));
        if (!publishing)
        {
            Directory.CreateDirectory(dataDirectory);
        }
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
