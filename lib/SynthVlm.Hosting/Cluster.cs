using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using SynthVlm.Streams;

namespace SynthVlm.Hosting;

/// <summary>A resource could not be started; the message says which and how to fix it.</summary>
public sealed class ClusterStartException(string message) : Exception(message);

/// <summary>
/// The running local cluster: starts resources in dependency order, waits for each to be healthy
/// before its dependants start, probes health while running, and stops everything it started
/// in reverse order.
/// </summary>
public sealed class Cluster : IAsyncDisposable
{
    private readonly ClusterOptions _options;
    private readonly IReadOnlyList<ClusterResource> _order;
    private readonly IClusterOutput _output;
    private readonly List<ReplicaProcess> _replicas = [];
    private readonly Dictionary<ServiceResource, List<(Uri Grpc, Uri Http)>> _serviceEndpoints = [];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(2) };
    private readonly CancellationTokenSource _stopping = new();
    private Task? _healthLoop;

    internal Cluster(ClusterOptions options, IReadOnlyList<ClusterResource> order, IClusterOutput output)
    {
        _options = options;
        _order = order;
        _output = output;
    }

    /// <summary>Every replica the cluster runs, in start order.</summary>
    public IReadOnlyList<ReplicaProcess> Replicas => _replicas;

    /// <summary>The resources in start order.</summary>
    public IReadOnlyList<ClusterResource> Resources => _order;

    /// <summary>The gRPC and HTTP endpoints of each replica of <paramref name="service"/>.</summary>
    public IReadOnlyList<(Uri Grpc, Uri Http)> EndpointsOf(ServiceResource service) =>
        _serviceEndpoints.TryGetValue(service, out var list) ? list : [];

    /// <summary>
    /// Starts every resource. A service whose replicas do not become healthy in time is reported
    /// (with its last log lines) and left to its supervisor; the others keep running.
    /// </summary>
    /// <returns>The names of resources that did not become healthy.</returns>
    /// <exception cref="ClusterStartException">Redis could not be started or reached.</exception>
    public async Task<IReadOnlyList<string>> StartAsync(CancellationToken cancellationToken)
    {
        var unhealthy = new List<string>();
        foreach (var resource in _order)
        {
            cancellationToken.ThrowIfCancellationRequested();
            switch (resource)
            {
                case RedisResource redis:
                    await StartRedisAsync(redis, cancellationToken).ConfigureAwait(false);
                    break;
                case ServiceResource service:
                    if (!await StartServiceAsync(service, cancellationToken).ConfigureAwait(false))
                    {
                        unhealthy.Add(service.Name);
                    }
                    break;
                default:
                    throw new InvalidOperationException($"Unknown resource type {resource.GetType().Name}.");
            }
        }
        _healthLoop = Task.Run(() => HealthLoopAsync(_stopping.Token), CancellationToken.None);
        return unhealthy;
    }

    /// <summary>Stops every replica, dependants first.</summary>
    public async Task StopAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_healthLoop is not null)
        {
            await _healthLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        // Reverse start order: services stop (and drain) while Redis is still there.
        foreach (var group in _replicas.GroupBy(r => r.Resource).Reverse())
        {
            await Task.WhenAll(group.Select(r => r.StopAsync(_options.StopGrace))).ConfigureAwait(false);
        }
    }

    private async Task StartRedisAsync(RedisResource redis, CancellationToken cancellationToken)
    {
        if (!redis.IsManaged)
        {
            _output.Info($"{redis.Name}: using existing Redis {RedisConnectionOptions.Parse(redis.ConnectionString)}");
            await PingRedisAsync(redis, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
            return;
        }
        var server = LocateRedisServer() ?? throw new ClusterStartException(
            (Environment.GetEnvironmentVariable(RedisServerEnv) is { Length: > 0 } configured ? $"redis-server is not at {RedisServerEnv}={configured}. " : "redis-server is not installed. ") +
            "Install it with `bash eng/provision.sh` (or `sudo apt-get install redis-server`), " +
            "or point the AppHost at an existing server with --redis host:port[,password=...] (or ConnectionStrings__redis).");
        Directory.CreateDirectory(redis.DataDirectory!);
        redis.Port = FreePort();
        redis.Password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var args = new List<string>
        {
            "--port", redis.Port.ToString(CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1",
            "--protected-mode", "yes",
            "--dir", redis.DataDirectory!,
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", string.Empty,
            "--requirepass", redis.Password,
        };
        var replica = new ReplicaProcess(redis.Name, redis, new ReplicaLaunch(server, args, new Dictionary<string, string>(),
            new Dictionary<string, Uri> { ["tcp"] = new($"tcp://127.0.0.1:{redis.Port}") }), _output);
        _replicas.Add(replica);
        replica.Start();
        await PingRedisAsync(redis, _options.StartTimeout, cancellationToken).ConfigureAwait(false);
        replica.ReportHealth(true);
    }

    private async Task PingRedisAsync(RedisResource redis, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // Short connect attempts, so a server that is still starting is retried promptly.
        var options = RedisConnectionOptions.Parse(redis.ConnectionString) with { AbortConnect = true, ConnectTimeout = TimeSpan.FromSeconds(1) };
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                await using var connection = await RedisConnections.ConnectAsync(options).WaitAsync(cancellationToken).ConfigureAwait(false);
                await connection.GetDatabase().PingAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (RedisConnections.IsRedisFailure(e) && DateTime.UtcNow < deadline
                && e is not StackExchange.Redis.RedisConnectionException { FailureType: StackExchange.Redis.ConnectionFailureType.AuthenticationFailure })
            {
                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (RedisConnections.IsRedisFailure(e))
            {
                var replica = _replicas.FirstOrDefault(r => r.Resource == redis);
                var tail = replica is null ? string.Empty : Environment.NewLine + string.Join(Environment.NewLine, replica.LastLines.TakeLast(10));
                throw new ClusterStartException($"{redis.Name}: Redis did not answer within {timeout.TotalSeconds:0} s: {e.Message}{tail}");
            }
        }
    }

    private async Task<bool> StartServiceAsync(ServiceResource service, CancellationToken cancellationToken)
    {
        if (!File.Exists(service.AssemblyPath))
        {
            throw new ClusterStartException($"{service.Name}: {service.AssemblyPath} does not exist; build the solution first (`dotnet build`).");
        }
        var redis = service.DependsOn.OfType<RedisResource>().FirstOrDefault();
        var references = service.References.ToDictionary(
            r => r.Name,
            r => (IReadOnlyList<Uri>)EndpointsOf(r).Select(e => e.Grpc).ToList());
        var endpoints = new List<(Uri Grpc, Uri Http)>();
        var started = new List<ReplicaProcess>();
        for (var i = 0; i < service.Replicas; i++)
        {
            var grpc = new Uri($"http://127.0.0.1:{FreePort()}");
            var http = new Uri($"http://127.0.0.1:{FreePort()}");
            endpoints.Add((grpc, http));
            var env = ClusterEnvironment.ForReplica(service, i, grpc, http, redis?.ConnectionString, references, _options.OtlpEndpoint);
            var name = service.Replicas == 1 ? service.Name : $"{service.Name}-{i}";
            var replica = new ReplicaProcess(name, service, new ReplicaLaunch(_options.DotnetHost, [service.AssemblyPath], env,
                new Dictionary<string, Uri> { ["grpc"] = grpc, ["http"] = http }), _output);
            _replicas.Add(replica);
            started.Add(replica);
            replica.Start();
        }
        _serviceEndpoints[service] = endpoints;

        var deadline = DateTime.UtcNow + _options.StartTimeout;
        var healthy = new bool[started.Count];
        // A replica that keeps exiting while it starts will not get better by waiting out the timeout.
        bool FailingAtStart(int i) => !healthy[i] && started[i].Restarts >= FailFastRestarts;
        while (DateTime.UtcNow < deadline && !healthy.All(h => h) && !Enumerable.Range(0, started.Count).Any(FailingAtStart))
        {
            for (var i = 0; i < started.Count; i++)
            {
                if (!healthy[i])
                {
                    healthy[i] = await ProbeAsync(endpoints[i].Http, cancellationToken).ConfigureAwait(false);
                    started[i].ReportHealth(healthy[i]);
                }
            }
            if (!healthy.All(h => h))
            {
                await Task.Delay(200, cancellationToken).ConfigureAwait(false);
            }
        }
        for (var i = 0; i < started.Count; i++)
        {
            if (!healthy[i])
            {
                var why = FailingAtStart(i)
                    ? $"exited {started[i].Restarts + 1} times while starting (last exit code {started[i].LastExitCode}); the rest of the cluster keeps running and it keeps being restarted with backoff"
                    : $"not healthy after {_options.StartTimeout.TotalSeconds:0} s (state {started[i].State})";
                _output.Diagnostic(started[i], $"{why}; last lines:{Environment.NewLine}  " +
                    string.Join(Environment.NewLine + "  ", started[i].LastLines.TakeLast(15)));
            }
        }
        return healthy.All(h => h);
    }

    private async Task HealthLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.HealthInterval);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            foreach (var (service, endpoints) in _serviceEndpoints)
            {
                var replicas = _replicas.Where(r => r.Resource == service).ToList();
                for (var i = 0; i < replicas.Count; i++)
                {
                    replicas[i].ReportHealth(await ProbeAsync(endpoints[i].Http, cancellationToken).ConfigureAwait(false));
                }
            }
        }
    }

    private async Task<bool> ProbeAsync(Uri http, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _http.GetAsync(new Uri(http, "/health"), cancellationToken).ConfigureAwait(false);
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Exits during start after which a replica is reported failed without waiting for the start timeout.</summary>
    public const int FailFastRestarts = 3;

    /// <summary>The variable that names the redis-server binary to run instead of looking on PATH.</summary>
    public const string RedisServerEnv = "SYNTHVLM_REDIS_SERVER";

    private static string? LocateRedisServer()
    {
        if (Environment.GetEnvironmentVariable(RedisServerEnv) is { Length: > 0 } configured)
        {
            return File.Exists(configured) ? configured : null;
        }
        var candidates = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "redis-server"))
            .Append("/usr/bin/redis-server")
            .Append("/usr/sbin/redis-server");
        return candidates.FirstOrDefault(File.Exists);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested)
        {
            await StopAsync().ConfigureAwait(false);
        }
        _http.Dispose();
        _stopping.Dispose();
    }
}
