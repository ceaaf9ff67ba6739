using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace SynthVlm.AppHost;

/// <summary>
/// Healthy when the redis-server resource answers PING with its password. One connection is kept
/// and reused; it is made on the first check, once the server's port and password exist.
/// </summary>
internal sealed class RedisPingHealthCheck(RedisServerResource redis) : IHealthCheck, IDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(3);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ConnectionMultiplexer? _connection;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
            var latency = await connection.GetDatabase().PingAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy($"PING answered in {latency.TotalMilliseconds:0.0} ms");
        }
        catch (Exception e) when (e is RedisException or TimeoutException or System.Net.Sockets.SocketException)
        {
            return HealthCheckResult.Unhealthy("redis-server does not answer PING: " + e.Message);
        }
    }

    private async Task<ConnectionMultiplexer> ConnectAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_connection is null)
            {
                var connectionString = await redis.ConnectionStringExpression.GetValueAsync(cancellationToken).ConfigureAwait(false);
                var options = ConfigurationOptions.Parse(connectionString!);
                options.AbortOnConnectFail = true;
                options.ConnectTimeout = (int)ConnectTimeout.TotalMilliseconds;
                options.ClientName = "synthvlm-apphost-health";
                _connection = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
            }
            return _connection;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _connection?.Dispose();
        _gate.Dispose();
    }
}
