using StackExchange.Redis;
using SynthVlm.Streams;
using SynthVlm.Testing;

namespace SynthVlm.Runs.Tests;

/// <summary>One real redis-server per test class and a StackExchange.Redis database on it.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    private ConnectionMultiplexer? _multiplexer;

    public RedisServer Server { get; private set; } = null!;

    public IDatabase Connection { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await RedisServer.StartAsync(cancellationToken: TestTimeout.Token());
        var config = RedisConnectionOptions.Parse(Server.ConnectionString).ToConfigurationOptions();
        config.AllowAdmin = true; // the tests look for leftover keys with KEYS
        _multiplexer = await ConnectionMultiplexer.ConnectAsync(config).WithTimeout();
        Connection = _multiplexer.GetDatabase();
    }

    public async Task DisposeAsync()
    {
        if (_multiplexer is not null)
        {
            await _multiplexer.DisposeAsync();
        }
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }
}
