using System.Diagnostics;
using SynthVlm.Redis;
using SynthVlm.Testing;

namespace SynthVlm.Redis.Tests;

/// <summary>Tests that need their own redis-server configuration (auth, AOF, restarts).</summary>
public class RedisServerProcessTests
{
    [Fact]
    public async Task Missing_password_is_reported_as_authentication_error()
    {
        await using var server = await RedisServer.StartAsync(new RedisServerOptions { Password = "s3cret-pw" }, TestTimeout.Token());
        foreach (var protocol in new[] { RedisProtocol.Resp3, RedisProtocol.Resp2 })
        {
            var act = () => RedisConnection.ConnectAsync(new RedisConnectionOptions { Port = server.Port, Protocol = protocol });
            var ex = (await act.Should().ThrowAsync<RedisAuthenticationException>().WithTimeout()).Which;
            ex.Message.Should().Contain("requires a password").And.Contain($"127.0.0.1:{server.Port}").And.Contain("password=");
        }
    }

    [Fact]
    public async Task Wrong_password_is_rejected_without_echoing_it_and_the_right_one_works()
    {
        await using var server = await RedisServer.StartAsync(new RedisServerOptions { Password = "s3cret-pw" }, TestTimeout.Token());
        foreach (var protocol in new[] { RedisProtocol.Resp3, RedisProtocol.Resp2 })
        {
            var act = () => RedisConnection.ConnectAsync(new RedisConnectionOptions { Port = server.Port, Password = "guess-123", Protocol = protocol });
            var ex = (await act.Should().ThrowAsync<RedisAuthenticationException>().WithTimeout()).Which;
            ex.Message.Should().Contain("rejected").And.NotContain("guess-123").And.NotContain("s3cret-pw");
        }
        await using var ok = await RedisConnection.ConnectAsync(RedisConnectionOptions.Parse(server.ConnectionString)).WithTimeout();
        (await ok.ExecuteAsync("PING").WithTimeout()).AsString().Should().Be("PONG");
    }

    [Fact]
    public async Task Acl_user_with_password_authenticates()
    {
        await using var server = await RedisServer.StartAsync(new RedisServerOptions { User = "alice", UserPassword = "alice-pw" }, TestTimeout.Token());
        foreach (var protocol in new[] { RedisProtocol.Resp3, RedisProtocol.Resp2 })
        {
            await using var c = await RedisConnection.ConnectAsync(RedisConnectionOptions.Parse(server.UserConnectionString!) with { Protocol = protocol }).WithTimeout();
            (await c.ExecuteAsync("ACL", "WHOAMI").WithTimeout()).AsString().Should().Be("alice");
        }
        var wrong = () => RedisConnection.ConnectAsync(RedisConnectionOptions.Parse($"127.0.0.1:{server.Port},user=alice,password=nope"));
        (await wrong.Should().ThrowAsync<RedisAuthenticationException>().WithTimeout()).Which.Message.Should().Contain("'alice'");
    }

    [Fact]
    public async Task Restarted_server_loses_no_acknowledged_xadd_and_the_same_connection_recovers()
    {
        await using var server = await RedisServer.StartAsync(new RedisServerOptions { AppendOnly = true, AppendFsync = "always" }, TestTimeout.Token());
        await using var c = await RedisConnection.ConnectAsync(RedisConnectionOptions.Parse(server.ConnectionString + ",syncTimeout=2000")).WithTimeout();
        const string Stream = "test:restart";
        var acked = new System.Collections.Concurrent.ConcurrentBag<string>();
        var failures = 0;
        using var stop = new CancellationTokenSource();
        var producers = Enumerable.Range(0, 4).Select(p => Task.Run(async () =>
        {
            var i = 0;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var id = await c.ExecuteAsync("XADD", Stream, "*", "p", p, "i", i++);
                    acked.Add(id.AsString()!);
                }
                catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException)
                {
                    Interlocked.Increment(ref failures);
                    await Task.Delay(10);
                }
            }
        })).ToArray();

        await TestTimeout.Until(() => acked.Count >= 200, what: "XADDs before the crash");
        server.Kill();
        await TestTimeout.Until(() => !c.IsConnected, what: "the client to notice the crash");
        var beforeRestart = acked.Count;
        await server.RestartAsync(TestTimeout.Token());
        await TestTimeout.Until(() => acked.Count >= beforeRestart + 200, what: "XADDs after the restart on the same connection");
        await stop.CancelAsync();
        await Task.WhenAll(producers).WithTimeout();

        c.IsConnected.Should().BeTrue();
        // Commands in flight at the crash may fail (counted in failures) or, when the crash fell between
        // replies, later commands simply wait for the reconnect; either way nothing acknowledged is lost.
        var stored = new HashSet<string>();
        foreach (var e in (await c.ExecuteAsync("XRANGE", Stream, "-", "+").WithTimeout()).AsArray())
        {
            stored.Add(e[0].AsString()!);
        }
        acked.Should().OnlyContain(id => stored.Contains(id), "appendfsync always fsyncs before replying");
    }

    [Fact]
    public async Task Server_without_hello_falls_back_to_resp2_with_auth()
    {
        // Renaming HELLO away makes the server answer "ERR unknown command", as Redis 5 does.
        await using var server = await RedisServer.StartAsync(new RedisServerOptions { Password = "pw-1", ExtraArguments = ["--rename-command", "HELLO", ""] }, TestTimeout.Token());
        await using var c = await RedisConnection.ConnectAsync(RedisConnectionOptions.Parse(server.ConnectionString + ",name=old-server")).WithTimeout();
        c.NegotiatedProtocol.Should().Be(RedisProtocol.Resp2);
        (await c.ExecuteAsync("CLIENT", "GETNAME").WithTimeout()).AsString().Should().Be("old-server");
        var noPassword = () => RedisConnection.ConnectAsync(new RedisConnectionOptions { Port = server.Port });
        await noPassword.Should().ThrowAsync<RedisAuthenticationException>().WithTimeout();
    }

    [Fact]
    public async Task Commands_issued_while_the_server_is_down_wait_for_the_reconnect_up_to_their_timeout()
    {
        await using var server = await RedisServer.StartAsync(cancellationToken: TestTimeout.Token());
        await using var c = await RedisConnection.ConnectAsync(RedisConnectionOptions.Parse(server.ConnectionString + ",syncTimeout=300")).WithTimeout();
        server.Kill();
        await TestTimeout.Until(() => !c.IsConnected, what: "the client to notice the crash");
        var sw = Stopwatch.StartNew();
        var down = () => c.ExecuteAsync("PING");
        await down.Should().ThrowAsync<RedisTimeoutException>().WithTimeout();
        sw.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(2));

        var waiting = c.ExecuteAsync("ECHO", TimeSpan.FromSeconds(20), CancellationToken.None, "after-restart");
        await server.RestartAsync(TestTimeout.Token());
        (await waiting.WithTimeout()).AsString().Should().Be("after-restart");
        c.IsConnected.Should().BeTrue();
    }
}
