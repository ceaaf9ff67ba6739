using SynthVlm.Streams;
using SynthVlm.Testing;

namespace SynthVlm.Runs.Tests;

/// <summary>One real redis-server per test class and a connection to it.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public RedisServer Server { get; private set; } = null!;

    public RedisConnection Connection { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await RedisServer.StartAsync(cancellationToken: TestTimeout.Token());
        Connection = await RedisConnection.ConnectAsync(RedisConnectionOptions.Parse(Server.ConnectionString), cancellationToken: TestTimeout.Token());
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
}
