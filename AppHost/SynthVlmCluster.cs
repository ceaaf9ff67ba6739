using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SynthVlm.AppHost;

/// <summary>
/// The SynthVlm app model built into a running Aspire application: DCP, the Aspire dashboard,
/// Redis, every service replica, and the <see cref="ReplicaSupervisor"/> that restarts crashed
/// replicas and keeps their output in {data-dir}/logs.
/// </summary>
internal sealed class SynthVlmCluster : IAsyncDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);
    private bool _stopped;

    private SynthVlmCluster(DistributedApplication app, SynthVlmResources resources, ReplicaSupervisor supervisor, Uri? dashboardLogin, AppHostSettings settings)
    {
        App = app;
        Resources = resources;
        Supervisor = supervisor;
        DashboardLogin = dashboardLogin;
        Settings = settings;
    }

    /// <summary>The Aspire application.</summary>
    public DistributedApplication App { get; }

    /// <summary>The resources of the app model.</summary>
    public SynthVlmResources Resources { get; }

    /// <summary>Restarts crashed replicas; knows every replica's state.</summary>
    public ReplicaSupervisor Supervisor { get; }

    /// <summary>The dashboard's login address (null without a dashboard).</summary>
    public Uri? DashboardLogin { get; }

    /// <summary>What the cluster was built from.</summary>
    public AppHostSettings Settings { get; }

    /// <summary>Replicas the app model runs (Redis counted when it is an executable of this AppHost).</summary>
    public int ExpectedReplicas => ExpectedByResource().Values.Sum();

    /// <summary>Replicas per resource the supervisor watches: every project, and Redis when it is an executable.</summary>
    private Dictionary<string, int> ExpectedByResource()
    {
        var expected = Resources.Projects.ToDictionary(p => p.Resource.Name, p => p.Resource.TryGetLastAnnotation<ReplicaAnnotation>(out var r) ? r.Replicas : 1, StringComparer.Ordinal);
        if (Resources.Redis.Resource is RedisServerResource)
        {
            expected[SynthVlmAppModel.RedisName] = 1;
        }
        return expected;
    }

    /// <summary>Builds the app; nothing starts until <see cref="DistributedApplication.StartAsync"/> or RunAsync.</summary>
    /// <param name="settings">The cluster to build.</param>
    /// <param name="runVerb">The run verb: the screen is the progress display (Aspire logs warnings only) and Ctrl+C belongs to the run.</param>
    /// <exception cref="AppHostStartException">A port is taken or Redis cannot be found; the message says what to do.</exception>
    public static SynthVlmCluster Create(AppHostSettings settings, bool runVerb)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var login = settings.Dashboard ? ConfigureDashboard(settings) : null;
        var builder = DistributedApplication.CreateBuilder(new DistributedApplicationOptions
        {
            Args = [],
            DisableDashboard = !settings.Dashboard,
            // Plain HTTP on loopback: this machine has no developer certificate.
            AllowUnsecuredTransport = true,
        });
        if (login is not null)
        {
            builder.Configuration["AppHost:BrowserToken"] = login.Value.Token;
        }
        // One line per message, so the terminal (and whatever reads it) gets Aspire's lines whole.
        builder.Services.AddLogging(logging => logging.AddSimpleConsole(o => o.SingleLine = true));
        // DcpHost warns that no development certificate is trusted: this AppHost serves plain HTTP on
        // loopback on purpose (AllowUnsecuredTransport), so only its errors are shown.
        builder.Services.AddLogging(logging => logging.AddFilter("Aspire.Hosting.Dcp", LogLevel.Warning).AddFilter("Aspire.Hosting.Dcp.DcpHost", LogLevel.Error).AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Warning));
        if (runVerb)
        {
            builder.Services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning));
            // The first Ctrl+C cancels the run and the second abandons it (RunCommand), so the host
            // must not stop on SIGINT by itself.
            builder.Services.AddSingleton<IHostLifetime, SignalFreeLifetime>();
        }
        else
        {
            builder.Services.AddLogging(logging => logging.AddFilter(typeof(ReplicaSupervisor).FullName, LogLevel.Information));
        }
        var resources = SynthVlmAppModel.Add(builder, settings, login is null ? null : new Uri(login.Value.Url.GetLeftPart(UriPartial.Authority)));
        builder.Services.AddSingleton(new ReplicaSupervisorOptions { LogDirectory = settings.LogDirectory, ReportStates = !runVerb });
        builder.Services.AddSingleton<ReplicaSupervisor>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ReplicaSupervisor>());
        var app = builder.Build();
        return new SynthVlmCluster(app, resources, app.Services.GetRequiredService<ReplicaSupervisor>(), login?.Url, settings);
    }

    /// <summary>Waits until every replica is healthy, a resource gave up, or <paramref name="timeout"/> passed.</summary>
    /// <returns>The resources not healthy at the end (empty when all are).</returns>
    public async Task<IReadOnlyList<string>> WaitForHealthyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var replicas = Supervisor.Replicas.Values.ToList();
            var expected = ExpectedReplicas;
            var unhealthy = Unhealthy(replicas);
            var gaveUp = replicas.Where(r => r.GaveUp).Select(r => r.Resource).ToHashSet(StringComparer.Ordinal);
            var settled = replicas.Count >= expected && unhealthy.All(gaveUp.Contains);
            if (settled || DateTime.UtcNow > deadline)
            {
                return unhealthy;
            }
            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    private List<string> Unhealthy(List<ReplicaSupervisor.Replica> replicas) =>
        ExpectedByResource().Where(e => replicas.Count(r => r.Resource == e.Key && r.State == "Healthy") < e.Value).Select(e => e.Key).ToList();

    /// <summary>The curation service's gRPC address (DCP's proxy, which spreads connections over the replicas).</summary>
    public Uri CurationGrpc => new(Resources.Curation.GetEndpoint(SynthVlmAppModel.GrpcEndpoint).Url);

    /// <summary>The training service's gRPC address (the Training API: a run's --train job is followed there).</summary>
    public Uri TrainingGrpc => new(Resources.Services[KnownServices.Training.Name].GetEndpoint(SynthVlmAppModel.GrpcEndpoint).Url);

    /// <summary>The eval service's gRPC address (the Eval API: a run's --eval job is followed there).</summary>
    public Uri EvalGrpc => new(Resources.Services[KnownServices.Eval.Name].GetEndpoint(SynthVlmAppModel.GrpcEndpoint).Url);

    /// <summary>The Recaption gRPC service's address (the proxy in front of its replicas).</summary>
    public Uri RecaptionGrpc => new(Resources.Services[KnownServices.Recaption.Name].GetEndpoint(SynthVlmAppModel.GrpcEndpoint).Url);

    /// <summary>Stops every resource (services, then DCP tears the rest down) and the dashboard.</summary>
    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }
        _stopped = true;
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await App.StopAsync(grace.Token).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await App.DisposeAsync().ConfigureAwait(false);
    }

    private static (Uri Url, string Token)? ConfigureDashboard(AppHostSettings settings)
    {
        // The dashboard reads these from the environment (a launch profile would set them): its UI,
        // the OTLP/HTTP receiver the services export to, and the resource service DCP feeds.
        var address = settings.DashboardAddress;
        var uiPort = Reserve(address, settings.DashboardPort, "dashboard", "--dashboard-port");
        var otlpPort = Reserve(IPAddress.Loopback, settings.OtlpPort, "OTLP", "--otlp-port");
        var resourcePort = Reserve(IPAddress.Loopback, 0, "resource service", "--dashboard-port");
        if (uiPort == otlpPort)
        {
            throw new AppHostStartException($"the dashboard and OTLP ports are both {uiPort}; they need two ports (--dashboard-port, --otlp-port).");
        }
        var host = address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
        var ui = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://{host}:{uiPort}"));
        Environment.SetEnvironmentVariable("ASPNETCORE_URLS", ui.ToString().TrimEnd('/'));
        Environment.SetEnvironmentVariable("ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL", string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{otlpPort}"));
        Environment.SetEnvironmentVariable("ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL", null);
        Environment.SetEnvironmentVariable("ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL", string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{resourcePort}"));
        Environment.SetEnvironmentVariable("ASPIRE_ALLOW_UNSECURED_TRANSPORT", "true");
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        return (new Uri(ui, "login?t=" + token), token);
    }

    /// <summary>The port to use: the one asked for when it is free, or a free one for 0.</summary>
    private static int Reserve(IPAddress address, int port, string what, string option)
    {
        try
        {
            using var listener = new TcpListener(address, port);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new AppHostStartException($"the {what} port {port} on {address} is already in use; choose another with {option} (0 picks a free one).");
        }
        catch (SocketException e)
        {
            throw new AppHostStartException($"cannot listen on {address}:{port} for the {what} ({e.Message}); check {option} and --dashboard-address.");
        }
    }

    /// <summary>A host lifetime that leaves SIGINT/SIGTERM to the run verb.</summary>
    private sealed class SignalFreeLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
