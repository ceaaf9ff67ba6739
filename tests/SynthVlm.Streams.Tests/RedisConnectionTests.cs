using System.Diagnostics;
using System.Text;
using SynthVlm.Redis;
using SynthVlm.Testing;

namespace SynthVlm.Redis.Tests;

public class RedisConnectionTests : IClassFixture<RedisFixture>
{
    private readonly RedisFixture _redis;

    public RedisConnectionTests(RedisFixture redis) => _redis = redis;

    [Fact]
    public async Task Handshake_negotiates_resp3_and_round_trips_binary_values()
    {
        var c = _redis.Connection;
        c.IsConnected.Should().BeTrue();
        c.NegotiatedProtocol.Should().Be(RedisProtocol.Resp3);
        c.ServerVersion.Should().StartWith("7.");
        var key = RedisFixture.UniqueKey("bin");
        var value = new byte[] { 0, 1, 2, 13, 10, 255, 36, 42 };
        (await c.ExecuteAsync("SET", key, value).WithTimeout()).AsString().Should().Be("OK");
        (await c.ExecuteAsync("GET", key).WithTimeout()).AsBytes().Should().Equal(value);
        (await c.ExecuteAsync("INCRBY", key + ":n", 41L).WithTimeout()).AsInt64().Should().Be(41);
        (await c.ExecuteAsync("INCRBYFLOAT", key + ":f", 1.5).WithTimeout()).AsDouble().Should().Be(1.5);
        (await c.ExecuteAsync("GET", key + ":missing").WithTimeout()).IsNull.Should().BeTrue();
        (await c.ExecuteAsync("ECHO", "héllo").WithTimeout()).AsString().Should().Be("héllo");
    }

    [Fact]
    public async Task Many_concurrent_pipelined_commands_each_get_their_own_reply()
    {
        var c = _redis.Connection;
        var key = RedisFixture.UniqueKey("pipe");
        const int N = 5000;
        var tasks = new Task<RedisResult>[N];
        await Parallel.ForAsync(0, N, new ParallelOptions { MaxDegreeOfParallelism = 8 }, (i, _) =>
        {
            tasks[i] = i % 2 == 0
                ? c.ExecuteAsync("ECHO", $"value-{i}")
                : c.ExecuteAsync("HSET", key, $"f{i}", i);
            return ValueTask.CompletedTask;
        }).WithTimeout();
        var results = await Task.WhenAll(tasks).WithTimeout();
        for (var i = 0; i < N; i++)
        {
            if (i % 2 == 0)
            {
                results[i].AsString().Should().Be($"value-{i}");
            }
            else
            {
                results[i].AsInt64().Should().Be(1);
            }
        }
        (await c.ExecuteAsync("HLEN", key).WithTimeout()).AsInt64().Should().Be(N / 2);
        (await c.ExecuteAsync("HGET", key, "f4999").WithTimeout()).AsString().Should().Be("4999");
    }

    [Fact]
    public async Task Error_reply_throws_server_exception_naming_the_command_and_the_connection_stays_usable()
    {
        var c = _redis.Connection;
        var key = RedisFixture.UniqueKey("err");
        await c.ExecuteAsync("SET", key, "text").WithTimeout();
        var act = () => c.ExecuteAsync("LPUSH", key, "x");
        var ex = (await act.Should().ThrowAsync<RedisServerException>()).Which;
        ex.Command.Should().Be("LPUSH");
        ex.ErrorPrefix.Should().Be("WRONGTYPE");
        ex.Message.Should().Contain("LPUSH").And.Contain(c.EndPoint).And.Contain("WRONGTYPE");
        (await c.ExecuteAsync("PING").WithTimeout()).AsString().Should().Be("PONG");
    }

    [Fact]
    public async Task Resp2_can_be_forced_and_reads_the_same_values()
    {
        await using var c = await RedisConnection.ConnectAsync(_redis.Options with { Protocol = RedisProtocol.Resp2, ClientName = "resp2-test" }).WithTimeout();
        c.NegotiatedProtocol.Should().Be(RedisProtocol.Resp2);
        (await c.ExecuteAsync("CLIENT", "GETNAME").WithTimeout()).AsString().Should().Be("resp2-test");
        var key = RedisFixture.UniqueKey("r2");
        await c.ExecuteAsync("HSET", key, "a", "1", "b", "2").WithTimeout();
        var map = (await c.ExecuteAsync("HGETALL", key).WithTimeout());
        map.Type.Should().Be(RedisResultType.Array);
        map.AsMap()["b"].AsString().Should().Be("2");
    }

    [Fact]
    public async Task Client_name_and_database_are_applied_in_the_handshake()
    {
        await using var c = await RedisConnection.ConnectAsync(_redis.Options with { ClientName = "curation-7", Database = 2 }).WithTimeout();
        (await c.ExecuteAsync("CLIENT", "GETNAME").WithTimeout()).AsString().Should().Be("curation-7");
        var key = RedisFixture.UniqueKey("db");
        await c.ExecuteAsync("SET", key, "in-db-2").WithTimeout();
        (await _redis.Connection.ExecuteAsync("EXISTS", key).WithTimeout()).AsInt64().Should().Be(0, "the shared connection uses database 0");
    }

    [Fact]
    public async Task Command_timeout_throws_and_the_late_reply_does_not_shift_later_replies()
    {
        await using var c = await RedisConnection.ConnectAsync(_redis.Options with { CommandTimeout = TimeSpan.FromMilliseconds(200) }).WithTimeout();
        var sw = Stopwatch.StartNew();
        var act = () => c.ExecuteAsync("BLPOP", RedisFixture.UniqueKey("never"), 1);
        (await act.Should().ThrowAsync<RedisTimeoutException>()).Which.Message.Should().Contain("BLPOP").And.Contain("200 ms");
        sw.Elapsed.Should().BeLessThan(TimeSpan.FromMilliseconds(900));
        // The BLPOP's nil arrives after ~1 s and must be matched to the BLPOP, not to this ECHO.
        var echo = await c.ExecuteAsync("ECHO", c.Options.CommandTimeout * 10, CancellationToken.None, "after").WithTimeout();
        echo.AsString().Should().Be("after");
    }

    [Fact]
    public async Task Cancellation_is_honoured()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await using var c = await RedisConnection.ConnectAsync(_redis.Options).WithTimeout();
        var act = () => c.ExecuteAsync("BLPOP", cts.Token, RedisFixture.UniqueKey("never"), 2);
        await act.Should().ThrowAsync<OperationCanceledException>().WithTimeout();
    }

    [Fact]
    public async Task Unreachable_endpoint_fails_fast_naming_the_endpoint_and_the_fix()
    {
        var port = FreePort.Next();
        var sw = Stopwatch.StartNew();
        var act = () => RedisConnection.ConnectAsync(RedisConnectionOptions.Parse($"127.0.0.1:{port},connectTimeout=1000"));
        var ex = (await act.Should().ThrowAsync<RedisConnectionException>().WithTimeout()).Which;
        sw.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(2));
        ex.Message.Should().Contain($"127.0.0.1:{port}").And.Contain("Is redis-server running").And.Contain("ConnectionStrings__redis");
    }

    [Fact]
    public async Task Connect_timeout_bounds_a_silent_endpoint()
    {
        // A listener that accepts but never answers HELLO: the handshake must time out.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        var sw = Stopwatch.StartNew();
        var act = () => RedisConnection.ConnectAsync(RedisConnectionOptions.Parse($"127.0.0.1:{port},connectTimeout=300"));
        (await act.Should().ThrowAsync<RedisConnectionException>().WithTimeout()).Which.Message.Should().Contain("300 ms").And.Contain($"127.0.0.1:{port}");
        sw.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task Disposed_connection_rejects_commands()
    {
        var c = await RedisConnection.ConnectAsync(_redis.Options).WithTimeout();
        await c.DisposeAsync();
        c.IsConnected.Should().BeFalse();
        var act = () => c.ExecuteAsync("PING");
        await act.Should().ThrowAsync<RedisConnectionException>().WithMessage("*disposed*");
    }

    [Fact]
    public async Task Killed_client_socket_fails_in_flight_commands_and_reconnects_by_itself()
    {
        await using var c = await RedisConnection.ConnectAsync(_redis.Options with { ClientName = "victim" }).WithTimeout();
        var id = (await c.ExecuteAsync("CLIENT", "ID").WithTimeout()).AsInt64();
        var blocked = c.ExecuteAsync("BLPOP", TimeSpan.FromSeconds(10), CancellationToken.None, RedisFixture.UniqueKey("never"), 5);
        await Task.Delay(100);
        (await _redis.Connection.ExecuteAsync("CLIENT", "KILL", "ID", id).WithTimeout()).AsInt64().Should().Be(1);
        var act = () => blocked;
        await act.Should().ThrowAsync<RedisConnectionException>().WithTimeout();
        (await c.ExecuteAsync("CLIENT", "GETNAME").WithTimeout()).AsString().Should().Be("victim");
    }

    [Fact]
    public async Task Resp3_push_frames_between_replies_are_not_taken_as_replies()
    {
        await using var c = await RedisConnection.ConnectAsync(_redis.Options).WithTimeout();
        var key = RedisFixture.UniqueKey("track");
        await c.ExecuteAsync("SET", key, "v1").WithTimeout();
        (await c.ExecuteAsync("CLIENT", "TRACKING", "ON").WithTimeout()).AsString().Should().Be("OK");
        for (var i = 0; i < 20; i++)
        {
            (await c.ExecuteAsync("GET", key).WithTimeout()).AsString().Should().Be(i == 0 ? "v1" : $"v{i}");
            // Another client's write makes the server push an invalidation to this connection.
            await _redis.Connection.ExecuteAsync("SET", key, $"v{i + 1}").WithTimeout();
            (await c.ExecuteAsync("ECHO", $"e{i}").WithTimeout()).AsString().Should().Be($"e{i}");
        }
        c.PushFramesIgnored.Should().BeGreaterThan(0, "the invalidations did arrive, between replies");
    }
}
