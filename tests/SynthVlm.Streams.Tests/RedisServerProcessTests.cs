using StackExchange.Redis;
using SynthVlm.Testing;

namespace SynthVlm.Streams.Tests;

/// <summary>Connecting the way the services do (password, ACL user, protocol, restarts) against redis-servers of their own.</summary>
public class RedisServerProcessTests
{
    [Fact]
    public async Task Missing_or_wrong_password_is_an_authentication_failure_that_never_echoes_a_password()
    {
        await using var server = await RedisServer.StartAsync(new RedisServerOptions { Password = "s3cret-pw" }, TestTimeout.Token());
        foreach (var protocol in new[] { RedisProtocol.Resp3, RedisProtocol.Resp2 })
        {
            foreach (var password in new[] { null, "guess-123" })
            {
                var options = new RedisConnectionOptions { Port = server.Port, Password = password, Protocol = protocol, ConnectTimeout = TimeSpan.FromSeconds(2) };
                var act = () => RedisConnections.ConnectAsync(options);
                var ex = (await act.Should().ThrowAsync<RedisConnectionException>().WithTimeout()).Which;
                ex.FailureType.Should().Be(ConnectionFailureType.AuthenticationFailure, $"{protocol}, password {(password is null ? "missing" : "wrong")}: {ex.Message}");
                ex.Message.Should().NotContain("guess-123").And.NotContain("s3cret-pw");
            }
        }
    }

    [Fact]
    public async Task The_right_password_works_over_both_protocols_and_on_the_dedicated_read_connection()
    {
        await using var server = await RedisServer.StartAsync(new RedisServerOptions { Password = "s3cret-pw" }, TestTimeout.Token());
        foreach (var protocol in new[] { RedisProtocol.Resp3, RedisProtocol.Resp2 })
        {
            await using var c = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse(server.ConnectionString) with { Protocol = protocol }).WithTimeout();
            (await c.GetDatabase().PingAsync().WithTimeout()).Should().BeGreaterThanOrEqualTo(TimeSpan.Zero);
            // The consumer's blocking reads run on a copy of the shared configuration: it must carry the password.
            await using var dedicated = await RedisConnections.OpenDedicatedAsync(c, "dedicated", TimeSpan.FromSeconds(5)).WithTimeout();
            await TestTimeout.Until(() => dedicated.IsConnected, what: "the dedicated connection to authenticate");
            (await dedicated.GetDatabase().ExecuteAsync("CLIENT", "GETNAME").WithTimeout()).ToString().Should().Be("dedicated");
        }
    }

    [Fact]
    public async Task Acl_user_with_password_authenticates()
    {
        await using var server = await RedisServer.StartAsync(new RedisServerOptions { User = "alice", UserPassword = "alice-pw" }, TestTimeout.Token());
        foreach (var protocol in new[] { RedisProtocol.Resp3, RedisProtocol.Resp2 })
        {
            await using var c = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse(server.UserConnectionString!) with { Protocol = protocol }).WithTimeout();
            (await c.GetDatabase().ExecuteAsync("ACL", "WHOAMI").WithTimeout()).ToString().Should().Be("alice");
        }
    }

    [Fact]
    public async Task Client_name_and_database_from_the_connection_string_are_applied()
    {
        await using var server = await RedisServer.StartAsync(cancellationToken: TestTimeout.Token());
        await using var c = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse($"redis://127.0.0.1:{server.Port}/3") with { ClientName = "curation-1" }).WithTimeout();
        var db = c.GetDatabase();
        db.Database.Should().Be(3);
        await db.StringSetAsync("k", "v").WithTimeout();
        (await c.GetDatabase(0).KeyExistsAsync("k").WithTimeout()).Should().BeFalse();
        (await db.ExecuteAsync("CLIENT", "GETNAME").WithTimeout()).ToString().Should().Be("curation-1");
    }

    [Fact]
    public async Task Unreachable_endpoint_fails_naming_the_endpoint()
    {
        var port = FreePort.Next();
        var act = () => RedisConnections.ConnectAsync(new RedisConnectionOptions { Port = port, ConnectTimeout = TimeSpan.FromMilliseconds(500) });
        (await act.Should().ThrowAsync<RedisConnectionException>().WithTimeout()).Which.Message.Should().Contain($"127.0.0.1:{port}").And.Contain("abortConnect");
    }

    [Fact]
    public async Task Restarted_server_loses_no_acknowledged_xadd_and_the_same_multiplexer_recovers()
    {
        await using var server = await RedisServer.StartAsync(new RedisServerOptions { AppendOnly = true, AppendFsync = "always" }, TestTimeout.Token());
        await using var c = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse(server.ConnectionString + ",syncTimeout=2000")).WithTimeout();
        var db = c.GetDatabase();
        const string Stream = "test:restart";
        var acked = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        var producers = Enumerable.Range(0, 4).Select(p => Task.Run(async () =>
        {
            var i = 0;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var id = await db.StreamAddAsync(Stream, [new("p", p), new("i", i++)]);
                    acked.Add(id.ToString());
                }
                catch (Exception ex) when (RedisConnections.IsRedisFailure(ex))
                {
                    await Task.Delay(10);
                }
            }
        })).ToArray();

        await TestTimeout.Until(() => acked.Count >= 200, what: "XADDs before the crash");
        server.Kill();
        await TestTimeout.Until(() => !c.IsConnected, what: "the client to notice the crash");
        var beforeRestart = acked.Count;
        await server.RestartAsync(TestTimeout.Token());
        await TestTimeout.Until(() => acked.Count >= beforeRestart + 200, what: "XADDs after the restart on the same multiplexer");
        await stop.CancelAsync();
        await Task.WhenAll(producers).WithTimeout();

        c.IsConnected.Should().BeTrue();
        var stored = (await db.StreamRangeAsync(Stream).WithTimeout()).Select(e => e.Id.ToString()).ToHashSet();
        acked.Should().OnlyContain(id => stored.Contains(id), "appendfsync always fsyncs before replying");
    }

    [Fact]
    public async Task Server_without_hello_is_spoken_to_in_resp2_with_auth()
    {
        // Renaming HELLO away makes the server answer "ERR unknown command", as Redis 5 does.
        await using var server = await RedisServer.StartAsync(new RedisServerOptions { Password = "pw-1", ExtraArguments = ["--rename-command", "HELLO", ""] }, TestTimeout.Token());
        await using var c = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse(server.ConnectionString + ",name=old-server")).WithTimeout();
        c.GetServers()[0].Protocol.Should().Be(RedisProtocol.Resp2);
        (await c.GetDatabase().ExecuteAsync("CLIENT", "GETNAME").WithTimeout()).ToString().Should().Be("old-server");
    }
}
