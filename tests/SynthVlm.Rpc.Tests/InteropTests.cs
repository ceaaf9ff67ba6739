using System.Text.Json;
using FluentAssertions;
using Google.Protobuf;
using SynthVlm.Rpc.Tests.Protos;
using SynthVlm.Testing;

namespace SynthVlm.Rpc.Tests;

/// <summary>grpcio (Debian's python3-grpcio) against this layer, both directions.</summary>
public sealed class InteropTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private sealed record PyResult(string Name, string Code, string Details, string[] Responses, string[][] Trailers);

    [Fact]
    public async Task Grpcio_client_calls_SynthVlm_server()
    {
        var failDetail = "failed ✓ 100%";
        var calls = new object[]
        {
            Call("unary", "unary", TestMethods.Echo, new EchoRequest { Message = "from python" }),
            Call("stream", "stream", TestMethods.Stream, new StreamRequest { Count = 5, Message = "p" }),
            Call("deadline", "unary", TestMethods.Slow, new SlowRequest { Id = "py-deadline" }, timeout: 1.0),
            Call("fail", "unary", TestMethods.Fail, new FailRequest { Code = (int)RpcStatusCode.PermissionDenied, Detail = failDetail }),
            Call("missing", "unary", TestMethods.Missing, new EchoRequest()),
            new { name = "unknown-service", kind = "unary", path = "/no.such.Service/Call", request = "", timeout = (double?)null, metadata = Array.Empty<string[]>() },
            new { name = "health", kind = "unary", path = "/grpc.health.v1.Health/Check", request = "", timeout = (double?)null, metadata = Array.Empty<string[]>() },
            Call("headers", "unary", TestMethods.EchoHeaders, new EchoRequest(), metadata: [["x-py", "yes"]]),
        };
        var results = await RunClientAsync(fixture.Server.Address.Authority, calls);

        EchoResponse.Parser.ParseFrom(Convert.FromHexString(results["unary"].Responses.Single())).Message.Should().Be("from python");
        results["unary"].Code.Should().Be("OK");
        results["stream"].Code.Should().Be("OK");
        results["stream"].Responses.Select(h => EchoResponse.Parser.ParseFrom(Convert.FromHexString(h)).Message)
            .Should().Equal("p0", "p1", "p2", "p3", "p4");
        results["deadline"].Code.Should().Be("DEADLINE_EXCEEDED");
        await fixture.Server.Observer.Cancelled("py-deadline").Task.WithTimeout();
        results["fail"].Code.Should().Be("PERMISSION_DENIED");
        results["fail"].Details.Should().Be(failDetail);
        results["fail"].Trailers.Should().ContainEquivalentOf(new[] { "x-reason", "because" });
        results["fail"].Trailers.Should().ContainEquivalentOf(new[] { "x-blob-bin", "000102ff" });
        results["missing"].Code.Should().Be("UNIMPLEMENTED");
        results["unknown-service"].Code.Should().Be("UNIMPLEMENTED");
        results["health"].Code.Should().Be("OK");
        results["health"].Responses.Single().Should().Be("0801");
        results["headers"].Code.Should().Be("OK");
        results["headers"].Trailers.Should().ContainEquivalentOf(new[] { "trailer-x-py", "yes" });
    }

    [Fact]
    public async Task SynthVlm_client_calls_grpcio_server()
    {
        await using var server = PythonProcess.Start(PythonProcess.Script("grpc_server.py"));
        var ready = await server.ReadLineAsync();
        ready.Should().StartWith("PORT ", server.StandardError);
        using var channel = RpcChannel.ForAddress(new Uri($"http://127.0.0.1:{ready!["PORT ".Length..]}"));

        var echo = await channel.UnaryCallAsync<EchoRequest, EchoResponse>(TestMethods.Echo, new EchoRequest { Message = "to python ✓" }).WithTimeout();
        echo.Response.Message.Should().Be("to python ✓");
        echo.Trailers.GetValue("x-served-by").Should().Be("grpcio");

        using (var call = channel.ServerStreaming<StreamRequest, EchoResponse>(TestMethods.Stream, new StreamRequest { Count = 4, Message = "q" }))
        {
            var messages = new List<string>();
            await foreach (var message in call.ReadAllAsync(TestTimeout.Token()))
            {
                messages.Add(message.Message);
            }
            messages.Should().Equal("q0", "q1", "q2", "q3");
            call.GetStatus().Should().Be(RpcStatus.Ok);
        }

        var failDetail = "nope ✓ 50%";
        var fail = () => channel.UnaryAsync<FailRequest, EchoResponse>(TestMethods.Fail, new FailRequest { Code = (int)RpcStatusCode.NotFound, Detail = failDetail }).WithTimeout();
        var failure = (await fail.Should().ThrowAsync<RpcException>()).Which;
        failure.StatusCode.Should().Be(RpcStatusCode.NotFound);
        failure.Status.Detail.Should().Be(failDetail);
        failure.Trailers.GetValue("x-reason").Should().Be("because");
        failure.Trailers.GetValueBytes("x-blob-bin").Should().Equal(0, 1, 2, 255);

        var slow = () => channel.UnaryAsync<SlowRequest, EchoResponse>(TestMethods.Slow, new SlowRequest(), new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(300))).WithTimeout();
        (await slow.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(RpcStatusCode.DeadlineExceeded);

        var missing = () => channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Missing, new EchoRequest()).WithTimeout();
        (await missing.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(RpcStatusCode.Unimplemented);

        // The channel still works after errors and deadlines.
        (await channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Echo, new EchoRequest { Message = "again" }).WithTimeout()).Message.Should().Be("again");
    }

    private static object Call(string name, string kind, Google.Protobuf.Reflection.MethodDescriptor method, IMessage request, double? timeout = null, string[][]? metadata = null) =>
        new { name, kind, path = TestMethods.Path(method), request = Convert.ToHexString(request.ToByteArray()), timeout, metadata = metadata ?? [] };

    private static async Task<Dictionary<string, PyResult>> RunClientAsync(string target, object[] calls)
    {
        var file = Path.Combine(Path.GetTempPath(), $"synthvlm-grpc-calls-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(calls));
        try
        {
            await using var client = PythonProcess.Start(PythonProcess.Script("grpc_client.py"), target, file);
            var lines = await client.ReadToEndAsync();
            var options = new JsonSerializerOptions { PropertyNameCaseInsensitive = true };
            var results = lines.Select(l => JsonSerializer.Deserialize<PyResult>(l, options)!).ToDictionary(r => r.Name);
            results.Keys.Should().BeEquivalentTo(calls.Select(c => (string)c.GetType().GetProperty("name")!.GetValue(c)!), client.StandardError);
            return results;
        }
        finally
        {
            File.Delete(file);
        }
    }
}
