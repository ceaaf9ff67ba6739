using StackExchange.Redis;
using SynthVlm.Testing;

namespace SynthVlm.Streams.Tests;

/// <summary>One plain redis-server per test class, plus a shared multiplexer to it.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public RedisServer Server { get; private set; } = null!;

    public ConnectionMultiplexer Connection { get; private set; } = null!;

    public RedisConnectionOptions Options => RedisConnectionOptions.Parse(Server.ConnectionString);

    public async Task InitializeAsync()
    {
        Server = await RedisServer.StartAsync(cancellationToken: TestTimeout.Token());
        Connection = await RedisConnections.ConnectAsync(Options).WithTimeout();
    }

    public async Task DisposeAsync()
    {
        if (Connection is not null)
        {
            await Connection.DisposeAsync();
        }
        if (Server is not null)
        {
            await Server.DisposeAsync();
        }
    }

    public static string UniqueKey(string prefix) => $"test:{prefix}:{Guid.NewGuid():N}";
}
