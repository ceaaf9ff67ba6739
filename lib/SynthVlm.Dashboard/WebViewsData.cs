using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using SynthVlm.Blobs;
using RunsClient = SynthVlm.Protos.V1.Runs.RunsClient;

namespace SynthVlm.Dashboard;

/// <summary>
/// The sources the pages read, each reached lazily and time-boxed so a dead one never hangs a
/// page: the Runs API client and the Redis multiplexer come from the host's container (absent
/// when not configured), the blob store from the data folder.
/// </summary>
internal sealed class WebViewsData(WebViewsOptions options, IServiceProvider services, TimeProvider clock)
{
    private readonly Lazy<Task<IConnectionMultiplexer?>> _redis = new(() =>
        // Resolving the multiplexer makes its first connection attempt synchronously (bounded by
        // its connect timeout): never on a request thread, and only once.
        Task.Run(() => services.GetService<IConnectionMultiplexer>()));

    public WebViewsOptions Options { get; } = options;

    public FileBlobStore? Blobs { get; } = options.BlobRoot is { Length: > 0 } root ? new FileBlobStore(root) : null;

    public GalleryIndex Gallery { get; } = new();

    public RunRates Rates { get; } = new(clock);

    /// <summary>A token that ends after the source time-box or when the request ends.</summary>
    public CancellationTokenSource TimeBox(CancellationToken request)
    {
        var box = CancellationTokenSource.CreateLinkedTokenSource(request);
        box.CancelAfter(Options.SourceTimeout);
        return box;
    }

    /// <summary>The cluster's Redis, or <see cref="SourceUnavailableException"/> saying why not.</summary>
    public async Task<IDatabaseAsync> RedisAsync(CancellationToken cancellationToken)
    {
        var multiplexer = await _redis.Value.WaitAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new SourceUnavailableException($"the front end was not given the cluster's Redis ({KnownEnvironment.RedisConnectionStringEnv})");
        if (!multiplexer.IsConnected)
        {
            // The multiplexer reconnects by itself; until then every page says so instead of waiting.
            throw new SourceUnavailableException($"Redis at {string.Join(", ", multiplexer.GetEndPoints().Select(e => e.ToString()))} is not reachable now");
        }
        return multiplexer.GetDatabase();
    }

    /// <summary>The Runs API (CurationService) client, or <see cref="SourceUnavailableException"/> when none is configured.</summary>
    public RunsClient Runs() =>
        services.GetService<RunsClient>()
        ?? throw new SourceUnavailableException($"the front end was not given a CurationService address for the Runs API ({KnownEnvironment.ServiceGrpcEndpointEnv(KnownServices.Curation.Name)})");
}

/// <summary>A page's source cannot be reached now; the page shows the reason.</summary>
internal sealed class SourceUnavailableException(string message) : Exception(message);
