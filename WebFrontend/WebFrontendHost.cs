using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using SynthVlm.Dashboard;
using SynthVlm.ServiceDefaults;
using SynthVlm.Streams;
using RunsClient = SynthVlm.Protos.V1.Runs.RunsClient;

namespace SynthVlm.WebFrontend;

/// <summary>
/// The front end's wiring: configuration under Aspire's names, ServiceDefaults' telemetry and
/// health, the Redis client (Aspire.StackExchange.Redis), the Runs API client found by service
/// discovery, the data folder, and the views from lib/SynthVlm.Dashboard.
/// </summary>
internal static partial class WebFrontendHost
{
    /// <summary>The resource name: OTEL_SERVICE_NAME's default and the AppHost's resource.</summary>
    public const string ResourceName = "web";

    /// <summary>The Runs API's address through Aspire service discovery: the curation resource's "grpc" endpoint.</summary>
    public static readonly Uri RunsAddress = new($"http://_grpc.{KnownServices.Curation.Name}");

    // Not a pipeline stage: ServiceIdentity wants a ServiceInfo, and only its name reaches telemetry.
    private static readonly ServiceInfo Identity = new(ResourceName, "WebFrontend", InputStream: "", OutputStream: null);

    public static int Run(string[] args)
    {
        try
        {
            using var app = Build(args);
            app.Run();
            return 0;
        }
        catch (StartupConfigurationException e)
        {
            Console.Error.WriteLine($"WebFrontend: {e.Message}");
            return ServiceHost.ConfigurationErrorExitCode;
        }
        catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException || e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"WebFrontend: cannot listen: {e.Message} (set {KnownEnvironment.HttpEndpointUrlEnv} to a free port)");
            return ServiceHost.ConfigurationErrorExitCode;
        }
    }

    public static WebApplication Build(string[] args)
    {
        // Content root next to the binary, so appsettings.json is found whatever the working folder.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.UseUtcTimestamp = true;
        });
        var configuration = builder.Configuration;
        var views = ReadViewsOptions(configuration);
        var generatedToken = views.EnsureToken();

        builder.Services.AddSynthVlmTelemetry(builder.Logging, new ServiceIdentity(Identity, configuration[KnownEnvironment.InstanceName]), ServiceSettings.ReadOtlp(configuration));
        // Only liveness: Redis or the Runs API being away is shown on the page, not a reason to restart the front end.
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), [HealthReporting.LiveTag]);
        builder.Services.AddHostedService<ParentProcessWatch>();

        var redis = ServiceSettings.ReadRedis(configuration);
        if (redis is not null)
        {
            configuration[KnownEnvironment.RedisConnectionStringKey] = redis.ToConfigurationString();
            builder.AddRedisClient(KnownEnvironment.RedisConnectionName,
                settings =>
                {
                    settings.DisableHealthChecks = true;
                    // The page polls every two seconds; a span per Redis command would bury the services' traces.
                    settings.DisableTracing = true;
                },
                options => options.AbortOnConnectFail = false);
        }

        var curationKey = KnownEnvironment.ServiceGrpcEndpointKey(KnownServices.Curation.Name);
        var hasRuns = configuration.GetSection($"services:{KnownServices.Curation.Name}").Exists();
        if (hasRuns)
        {
            builder.Services.AddServiceDiscovery();
            builder.Services.AddGrpcClient<RunsClient>(o => o.Address = RunsAddress).AddServiceDiscovery();
        }

        builder.Services.AddSynthVlmWebViews(views);

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapSynthVlmWebViews(HealthReporting.HealthPath, HealthReporting.AlivePath);

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("WebFrontend");
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var urls = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];
            LogStarted(logger, string.Join(", ", urls), hasRuns ? $"{RunsAddress} ({configuration[curationKey] ?? "from " + curationKey.Replace(":0", ":*", StringComparison.Ordinal)})" : $"(none: {KnownEnvironment.ServiceGrpcEndpointEnv(KnownServices.Curation.Name)} is not set)",
                redis?.ToString() ?? $"(none: {KnownEnvironment.RedisConnectionStringEnv} is not set)", views.BlobRoot ?? "(none)");
            if (generatedToken && urls.Count > 0)
            {
                // Once, at start: the token was made here, so this line is the only way in.
                LogLogin(logger, new Uri(new Uri(urls[0]), views.LoginPath).ToString(), WebViewsOptions.TokenKey.Replace(":", "__", StringComparison.Ordinal));
            }
        });
        return app;
    }

    private static WebViewsOptions ReadViewsOptions(IConfiguration configuration)
    {
        var dashboard = configuration[WebViewsOptions.AspireDashboardUrlKey];
        Uri? dashboardUrl = null;
        if (!string.IsNullOrWhiteSpace(dashboard)
            && (!Uri.TryCreate(dashboard, UriKind.Absolute, out dashboardUrl) || (dashboardUrl.Scheme != Uri.UriSchemeHttp && dashboardUrl.Scheme != Uri.UriSchemeHttps)))
        {
            throw new StartupConfigurationException(WebViewsOptions.AspireDashboardUrlKey, $"'{dashboard}' is not an http:// or https:// URL.");
        }
        return new WebViewsOptions
        {
            Token = configuration[WebViewsOptions.TokenKey],
            AspireDashboardUrl = dashboardUrl,
            BlobRoot = DataPaths.From(configuration).BlobRoot,
        };
    }



    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "SynthVlm web front end serving on {Urls}; Runs API {Runs}; Redis {Redis}; blob store {BlobRoot}")]
    private static partial void LogStarted(ILogger logger, string urls, string runs, string redis, string blobRoot);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "No {TokenSetting} was configured, so one was generated: log in at {LoginUrl}")]
    private static partial void LogLogin(ILogger logger, string loginUrl, string tokenSetting);
}
