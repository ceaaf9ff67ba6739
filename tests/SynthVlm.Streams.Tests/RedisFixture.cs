using SynthVlm.Redis;
using SynthVlm.Testing;

namespace SynthVlm.Redis.Tests;

/// <summary>One plain redis-server per test class, plus a shared connection to it.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public RedisServer Server { get; private set; } = null!;

    public RedisConnection Connection { get; private set; } = null!;

    public RedisConnectionOptions Options => RedisConnectionOptions.Parse(Server.ConnectionString);

    public async Task InitializeAsync()
    {
        Server = await RedisServer.StartAsync(cancellationToken: TestTimeout.Token());
        Connection = await RedisConnection.ConnectAsync(Options, cancellationToken: TestTimeout.Token());
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
