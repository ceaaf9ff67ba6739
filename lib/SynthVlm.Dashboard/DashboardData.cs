using SynthVlm.Blobs;
using SynthVlm.Dashboard.Telemetry;
using RunsClient = SynthVlm.Protos.V1.Runs.RunsClient;
using SynthVlm.Streams;

namespace SynthVlm.Dashboard;

/// <summary>
/// The sources the pages read, each reached lazily and time-boxed so a dead one never hangs a
/// page. The Runs client comes from the gRPC client factory (null without a CurationService address).
/// </summary>
internal sealed class DashboardData(DashboardOptions options, IResourceSource resources, ConsoleLogStore console, TelemetryStore telemetry, Func<RunsClient?> runsClient) : IAsyncDisposable
{
    private readonly SemaphoreSlim _redisGate = new(1, 1);
    private StackExchange.Redis.ConnectionMultiplexer? _redis;

    public DashboardOptions Options { get; } = options;

    public IResourceSource Resources { get; } = resources;

    public ConsoleLogStore Console { get; } = console;

    public TelemetryStore Telemetry { get; } = telemetry;

    public FileBlobStore? Blobs { get; } = options.DataDirectory is { Length: > 0 } dir ? new FileBlobStore(Path.Combine(dir, "blobs")) : null;

    public GalleryIndex Gallery { get; } = new();

    /// <summary>A token that ends after the source time-box or when the request ends.</summary>
    public CancellationTokenSource TimeBox(CancellationToken request)
    {
        var box = CancellationTokenSource.CreateLinkedTokenSource(request);
        box.CancelAfter(Options.SourceTimeout);
        return box;
    }

    public async Task<StackExchange.Redis.IDatabaseAsync> RedisAsync(CancellationToken cancellationToken)
    {
        if (Options.RedisConnectionString is not { Length: > 0 } connectionString)
        {
            throw new SourceUnavailableException("the dashboard was not given the cluster's Redis");
        }
        await _redisGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_redis is null)
            {
                // A failed first connect throws (abortConnect); once up, the multiplexer reconnects by itself.
                _redis = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse(connectionString) with { AbortConnect = true }).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            return _redis.GetDatabase();
        }
        catch (StackExchange.Redis.RedisConnectionException e)
        {
            throw new SourceUnavailableException("Redis: " + e.Message);
        }
        finally
        {
            _redisGate.Release();
        }
    }

    public RunsClient Runs() =>
        runsClient() ?? throw new SourceUnavailableException("the dashboard was not given a CurationService address (the Runs API)");

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync().ConfigureAwait(false);
        }
        _redisGate.Dispose();
    }
}

/// <summary>A page's source cannot be reached now; the page shows the reason.</summary>
internal sealed class SourceUnavailableException(string message) : Exception(message);
