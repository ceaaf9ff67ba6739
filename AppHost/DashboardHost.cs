using System.Net;
using SynthVlm.Dashboard;
using SynthVlm.Hosting;

namespace SynthVlm.AppHost;

/// <summary>
/// The dashboard as the AppHost runs it: started before the services (they export their telemetry
/// to it), fed every console line, reading the cluster's replicas, Redis and Runs API once they exist.
/// </summary>
internal sealed class DashboardHost : IAsyncDisposable
{
    private readonly ClusterReplicas _replicas;
    private readonly DashboardOptions _options;

    private DashboardHost(DashboardServer server, ConsoleLogStore console, ClusterReplicas replicas, DashboardOptions options)
    {
        Server = server;
        Console = console;
        _replicas = replicas;
        _options = options;
    }

    /// <summary>The running dashboard.</summary>
    public DashboardServer Server { get; }

    /// <summary>Where the console output goes.</summary>
    public ConsoleLogStore Console { get; }

    /// <summary>Starts the dashboard, or returns null (with the reason printed) when it cannot start.</summary>
    public static async Task<DashboardHost?> StartAsync(AppHostSettings settings, ClusterConsole output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(output);
        var options = new DashboardOptions
        {
            Address = settings.DashboardAddress,
            Port = settings.DashboardPort,
            OtlpPort = settings.OtlpPort,
            DataDirectory = settings.DataDirectory,
        };
        var console = new ConsoleLogStore();
        var replicas = new ClusterReplicas();
        DashboardServer server;
        try
        {
            server = await DashboardServer.StartAsync(options, replicas, console, cancellationToken).ConfigureAwait(false);
        }
        catch (DashboardStartException e)
        {
            output.Error("Dashboard: " + e.Message);
            return null;
        }
        output.Dashboard = console;
        output.Info($"Dashboard: {server.LoginUrl}");
        if (!IPAddress.IsLoopback(settings.DashboardAddress))
        {
            output.Warn($"The dashboard listens on {settings.DashboardAddress}, beyond this machine: the token is its only protection (plain HTTP).");
        }
        if (settings.OtlpEndpoint is not null)
        {
            output.Info($"Services send telemetry to {settings.OtlpEndpoint}; the dashboard shows resources, console, runs and images but no traces, logs or metrics.");
        }
        return new DashboardHost(server, console, replicas, options);
    }

    /// <summary>Points the dashboard at the started cluster: its replicas, Redis and the Runs API.</summary>
    public void Attach(Cluster cluster, LocalCluster plan)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(plan);
        _replicas.Cluster = cluster;
        // Read lazily by the dashboard: Redis's port and password exist only once it runs.
        if (cluster.Resources.OfType<RedisResource>().FirstOrDefault() is { } redis && (!redis.IsManaged || redis.Port > 0))
        {
            _options.RedisConnectionString = redis.ConnectionString;
        }
        _options.RunsEndpoint = cluster.EndpointsOf(plan.Curation) is { Count: > 0 } endpoints ? endpoints[0].Grpc : null;
    }

    public async ValueTask DisposeAsync() => await Server.DisposeAsync().ConfigureAwait(false);

    /// <summary>The cluster's replicas as the resources page shows them.</summary>
    private sealed class ClusterReplicas : IResourceSource
    {
        public Cluster? Cluster { get; set; }

        public IReadOnlyList<ResourceView> Snapshot()
        {
            if (Cluster is not { } cluster)
            {
                return [];
            }
            var counters = new Dictionary<string, int>(StringComparer.Ordinal);
            var views = new List<ResourceView>();
            foreach (var replica in cluster.Replicas.ToArray())
            {
                var resource = replica.Resource.Name;
                var index = counters.GetValueOrDefault(resource);
                counters[resource] = index + 1;
                views.Add(new ResourceView(
                    replica.Name, resource, replica.Resource is RedisResource ? "redis" : "service", index,
                    replica.State.ToString(), replica.Pid, replica.Restarts, replica.LastExitCode,
                    replica.Launch.Endpoints, [.. replica.LastLines]));
            }
            return views;
        }
    }
}
