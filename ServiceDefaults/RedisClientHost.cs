using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SynthVlm.Redis;

namespace SynthVlm.ServiceDefaults;

/// <summary>
/// Holds the service's shared Redis connection. Redis may come up after the service (or be
/// restarted), so the first connect is retried in the background with backoff instead of
/// failing start-up; once connected, the connection reconnects by itself.
/// </summary>
public sealed partial class RedisClientHost(RedisConnectionOptions options, ILogger<RedisClientHost> logger) : BackgroundService, IHealthCheck
{
    private readonly TaskCompletionSource<RedisConnection> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private RedisConnection? _connection;
    private string? _lastError;

    /// <summary>The connection options (the password is never logged).</summary>
    public RedisConnectionOptions Options { get; } = options;

    /// <summary>Whether the shared connection is currently up.</summary>
    public bool IsConnected => _connection?.IsConnected ?? false;

    /// <summary>Waits until the first connection is made.</summary>
    public Task<RedisConnection> GetConnectionAsync(CancellationToken cancellationToken) =>
        _connected.Task.WaitAsync(cancellationToken);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = new RetryDelay();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                _connection = await RedisConnection.ConnectAsync(Options, logger, stoppingToken).ConfigureAwait(false);
                _lastError = null;
                LogConnected(logger, Options.ToString());
                _connected.TrySetResult(_connection);
                return;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (RedisException e)
            {
                _lastError = e.Message;
                LogConnectFailed(logger, e.Message, delay.Peek.TotalSeconds);
            }
            await delay.WaitAsync(stoppingToken).ConfigureAwait(false);
        }
        _connected.TrySetCanceled(stoppingToken);
    }

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(IsConnected
            ? HealthCheckResult.Healthy($"Connected to Redis at {Options}.")
            : HealthCheckResult.Unhealthy(_lastError ?? $"Not connected to Redis at {Options}."));

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Connected to Redis {Endpoint}")]
    private static partial void LogConnected(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Redis not reachable ({Reason}); retrying in {DelaySeconds:0.0} s")]
    private static partial void LogConnectFailed(ILogger logger, string reason, double delaySeconds);
}
