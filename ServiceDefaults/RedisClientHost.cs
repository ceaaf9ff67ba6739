using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using SynthVlm.Streams;

namespace SynthVlm.ServiceDefaults;

/// <summary>
/// The service's shared StackExchange.Redis multiplexer, registered by Aspire's
/// <c>AddRedisClient("redis")</c> (configuration from <c>ConnectionStrings__redis</c>, its health
/// check, optional tracing). Redis may come up after the service (or be restarted): the
/// multiplexer connects and reconnects in the background (abortConnect=false), and
/// <see cref="GetConnectionAsync"/> waits for the first connection. Its health check ("redis")
/// says why it is not connected (a rejected password, say) beside Aspire's own.
/// </summary>
public sealed partial class RedisClientHost(IServiceProvider services, RedisConnectionOptions options, ILogger<RedisClientHost> logger) : BackgroundService, IHealthCheck
{
    /// <summary>The Aspire settings key that turns the Redis client's tracing on or off.</summary>
    public const string DisableTracingKey = "Aspire:StackExchange:Redis:DisableTracing";

    private readonly TaskCompletionSource<IConnectionMultiplexer> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IConnectionMultiplexer? _multiplexer;
    private string? _lastError;

    /// <summary>The connection options (the password is never logged).</summary>
    public RedisConnectionOptions Options { get; } = options;

    /// <summary>Whether the shared multiplexer is currently connected.</summary>
    public bool IsConnected => _multiplexer?.IsConnected ?? false;

    /// <summary>Waits until the first connection is made.</summary>
    public Task<IConnectionMultiplexer> GetConnectionAsync(CancellationToken cancellationToken) =>
        _connected.Task.WaitAsync(cancellationToken);

    /// <summary>
    /// Registers the Redis client for <paramref name="options"/>: the validated connection string is
    /// written back to <c>ConnectionStrings:redis</c> in StackExchange.Redis's own format (so a
    /// <c>redis://</c> URI works too) and <c>AddRedisClient("redis")</c> reads it. The client's
    /// per-command tracing is off unless <see cref="DisableTracingKey"/> says otherwise: idle
    /// consumers poll for reclaimable entries and every poll would be a root span; the Streams
    /// layer's own producer/consumer spans carry each item's trace.
    /// </summary>
    public static void AddTo(WebApplicationBuilder builder, RedisConnectionOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        builder.Configuration[KnownEnvironment.RedisConnectionStringKey] = options.ToConfigurationString();
        var tracingConfigured = builder.Configuration[DisableTracingKey] is not null;
        builder.AddRedisClient(KnownEnvironment.RedisConnectionName,
            settings =>
            {
                if (!tracingConfigured)
                {
                    settings.DisableTracing = true;
                }
            },
            configuration => configuration.AbortOnConnectFail = false);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<RedisClientHost>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RedisClientHost>());
        builder.Services.AddHealthChecks().AddCheck<RedisClientHost>("redis");
    }

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(IsConnected
            ? HealthCheckResult.Healthy($"Connected to Redis at {Options}.")
            : HealthCheckResult.Unhealthy(_lastError ?? $"Not connected to Redis at {Options}."));

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = new RetryDelay();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (_multiplexer is null)
                {
                    // Resolving connects (synchronously, bounded by connectTimeout): keep it off the host's start path.
                    var multiplexer = await Task.Run(services.GetRequiredService<IConnectionMultiplexer>, stoppingToken).ConfigureAwait(false);
                    multiplexer.ConnectionFailed += (_, e) => _lastError = Describe(e);
                    // Redis that comes up later is noticed at once, not at the next backoff step.
                    multiplexer.ConnectionRestored += (_, _) => MarkConnected(multiplexer);
                    _multiplexer = multiplexer;
                }
                if (_multiplexer.IsConnected)
                {
                    MarkConnected(_multiplexer);
                }
                if (_connected.Task.IsCompleted)
                {
                    return;
                }
                LogConnectFailed(logger, _lastError ?? $"not connected to {Options.EndPoint} yet", delay.Peek.TotalSeconds);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (RedisConnections.IsRedisFailure(e))
            {
                _lastError = e.Message;
                LogConnectFailed(logger, e.Message, delay.Peek.TotalSeconds);
            }
            await delay.WaitAsync(stoppingToken).ConfigureAwait(false);
        }
        _connected.TrySetCanceled(stoppingToken);
    }

    private string Describe(ConnectionFailedEventArgs e) => e.FailureType == ConnectionFailureType.AuthenticationFailure
        ? $"Redis at {Options.EndPoint} rejected the credentials: check the password (and user) in {KnownEnvironment.RedisConnectionStringEnv} ({e.Exception?.Message})"
        : $"Redis at {Options.EndPoint}: {e.FailureType}: {e.Exception?.Message}";

    private void MarkConnected(IConnectionMultiplexer multiplexer)
    {
        if (multiplexer.IsConnected && _connected.TrySetResult(multiplexer))
        {
            _lastError = null;
            LogConnected(logger, Options.ToString());
        }
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Connected to Redis {Endpoint}")]
    private static partial void LogConnected(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Redis not reachable ({Reason}); retrying in {DelaySeconds:0.0} s")]
    private static partial void LogConnectFailed(ILogger logger, string reason, double delaySeconds);
}
