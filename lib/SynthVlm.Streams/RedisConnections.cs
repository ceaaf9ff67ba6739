using StackExchange.Redis;

namespace SynthVlm.Streams;

/// <summary>Opening StackExchange.Redis multiplexers the way the Streams layer needs them.</summary>
public static class RedisConnections
{
    /// <summary>Connects a multiplexer for <paramref name="options"/>.</summary>
    /// <exception cref="RedisConnectionException">The server cannot be reached (only when <see cref="RedisConnectionOptions.AbortConnect"/> is true) or rejected the credentials.</exception>
    public static async Task<ConnectionMultiplexer> ConnectAsync(RedisConnectionOptions options, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            return await ConnectionMultiplexer.ConnectAsync(options.ToConfigurationOptions(), log).ConfigureAwait(false);
        }
        catch (RedisConnectionException e)
        {
            // StackExchange.Redis's message does not say where it tried; ours does (never the password).
            throw new RedisConnectionException(e.FailureType, CommandFlags.None, $"Cannot connect to Redis at {options} ({e.FailureType}): {e.Message}", e, e.CommandStatus);
        }
    }

    /// <summary>
    /// Opens a second, private multiplexer to the same server as <paramref name="shared"/> (same
    /// credentials and database) for blocking commands, which must never run on a shared
    /// multiplexer: they would hold up every reply queued behind them. It reconnects by itself.
    /// </summary>
    /// <param name="shared">The multiplexer whose configuration is copied.</param>
    /// <param name="clientName">CLIENT SETNAME of the new connection (shows in CLIENT LIST).</param>
    /// <param name="commandTimeout">Bound on one command: longer than the longest BLOCK argument sent on it.</param>
    public static async Task<ConnectionMultiplexer> OpenDedicatedAsync(IConnectionMultiplexer shared, string clientName, TimeSpan commandTimeout)
    {
        ArgumentNullException.ThrowIfNull(shared);
        var options = ConfigurationOptions.Parse(shared.Configuration);
        options.ClientName = clientName;
        options.AbortOnConnectFail = false;
        options.SyncTimeout = (int)commandTimeout.TotalMilliseconds;
        options.AsyncTimeout = (int)commandTimeout.TotalMilliseconds;
        return await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
    }

    /// <summary>
    /// Whether <paramref name="error"/> is a failure of Redis or of the way to it (server error,
    /// lost connection, timeout: StackExchange.Redis's timeout derives from <see cref="TimeoutException"/>,
    /// not from <see cref="RedisException"/>), as opposed to a bug.
    /// </summary>
    public static bool IsRedisFailure(Exception error) =>
        error is RedisException or RedisTimeoutException or ObjectDisposedException;

    /// <summary>Whether <paramref name="error"/> is the server's error reply with this prefix (e.g. <c>NOGROUP</c>).</summary>
    public static bool IsServerError(Exception error, string prefix) =>
        error is RedisServerException && error.Message.StartsWith(prefix, StringComparison.Ordinal);
}
