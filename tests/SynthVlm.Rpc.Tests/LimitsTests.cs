using FluentAssertions;
using Google.Protobuf;
using SynthVlm.Rpc.Tests.Protos;
using SynthVlm.Testing;

namespace SynthVlm.Rpc.Tests;

public sealed class LimitsTests
{
    [Fact]
    public async Task Request_over_server_max_is_resource_exhausted_and_server_keeps_serving()
    {
        await using var server = await RpcTestServer.StartAsync(o => o.MaxReceiveMessageSize = 1024);
        using var channel = server.CreateChannel();
        var act = () => channel.UnaryAsync<BigRequest, BigResponse>(TestMethods.Big, new BigRequest { Payload = ByteString.CopyFrom(new byte[2048]) }).WithTimeout();
        (await act.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(RpcStatusCode.ResourceExhausted);

        var small = await channel.UnaryAsync<BigRequest, BigResponse>(TestMethods.Big, new BigRequest { Payload = ByteString.CopyFrom(new byte[512]) }).WithTimeout();
        small.Received.Should().Be(512);
    }

    [Fact]
    public async Task Message_above_kestrels_request_body_limit_is_accepted_when_under_the_grpc_limit()
    {
        const int size = 31_000_000; // Kestrel's default MaxRequestBodySize is 30,000,000 bytes.
        await using var server = await RpcTestServer.StartAsync(o => o.MaxReceiveMessageSize = 40_000_000);
        using var channel = server.CreateChannel();
        var response = await channel.UnaryAsync<BigRequest, BigResponse>(TestMethods.Big, new BigRequest { Payload = ByteString.CopyFrom(new byte[size]) }).WithTimeout();
        response.Received.Should().Be(size);
    }

    [Fact]
    public async Task Exception_details_are_sent_only_when_enabled()
    {
        await using var server = await RpcTestServer.StartAsync(o => o.IncludeExceptionDetails = true);
        using var channel = server.CreateChannel();
        var act = () => channel.UnaryAsync<FailRequest, EchoResponse>(TestMethods.Fail, new FailRequest { Code = -1 }).WithTimeout();
        var ex = (await act.Should().ThrowAsync<RpcException>()).Which;
        ex.StatusCode.Should().Be(RpcStatusCode.Unknown);
        ex.Status.Detail.Should().Contain("InvalidOperationException").And.Contain("secret internal detail");
    }

    [Fact]
    public async Task Response_over_server_max_send_is_resource_exhausted()
    {
        await using var server = await RpcTestServer.StartAsync(o => o.MaxSendMessageSize = 1000);
        using var channel = server.CreateChannel();
        var act = () => channel.UnaryAsync<BigRequest, BigResponse>(TestMethods.Big, new BigRequest { ResponseSize = 4096 }).WithTimeout();
        (await act.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(RpcStatusCode.ResourceExhausted);
    }

    [Fact]
    public async Task Response_over_client_max_is_resource_exhausted()
    {
        await using var server = await RpcTestServer.StartAsync();
        using var channel = server.CreateChannel(new RpcChannelOptions { MaxReceiveMessageSize = 1024 });
        var act = () => channel.UnaryAsync<BigRequest, BigResponse>(TestMethods.Big, new BigRequest { ResponseSize = 4096 }).WithTimeout();
        var ex = (await act.Should().ThrowAsync<RpcException>()).Which;
        ex.StatusCode.Should().Be(RpcStatusCode.ResourceExhausted);
        ex.Status.Detail.Should().Contain("1024");

        var ok = await channel.UnaryAsync<BigRequest, BigResponse>(TestMethods.Big, new BigRequest { ResponseSize = 100 }).WithTimeout();
        ok.Payload.Length.Should().Be(100);
    }

    [Fact]
    public async Task Request_over_client_max_send_fails_before_sending()
    {
        await using var server = await RpcTestServer.StartAsync();
        using var channel = server.CreateChannel(new RpcChannelOptions { MaxSendMessageSize = 100 });
        var act = () => channel.UnaryAsync<BigRequest, BigResponse>(TestMethods.Big, new BigRequest { Payload = ByteString.CopyFrom(new byte[200]) }).WithTimeout();
        (await act.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(RpcStatusCode.ResourceExhausted);
    }

    [Fact]
    public async Task Connection_refused_is_unavailable_naming_the_address()
    {
        var address = new Uri($"http://127.0.0.1:{FreePort.Next()}");
        using var channel = RpcChannel.ForAddress(address);
        var act = () => channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Echo, new EchoRequest()).WithTimeout();
        var ex = (await act.Should().ThrowAsync<RpcException>()).Which;
        ex.StatusCode.Should().Be(RpcStatusCode.Unavailable);
        ex.Status.Detail.Should().Contain(address.ToString());
    }

    [Theory]
    [InlineData(503, RpcStatusCode.Unavailable)]
    [InlineData(404, RpcStatusCode.Unimplemented)]
    [InlineData(401, RpcStatusCode.Unauthenticated)]
    [InlineData(200, RpcStatusCode.Unknown)]
    public async Task Http_status_without_grpc_status_is_mapped(int httpStatus, RpcStatusCode expected)
    {
        // A proxy in the way answers with a plain HTTP status and no gRPC headers.
        using var handler = new StatusHandler((System.Net.HttpStatusCode)httpStatus);
        using var channel = new RpcChannel(new Uri("http://127.0.0.1:1"), handler, disposeHandler: false);
        var act = () => channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Echo, new EchoRequest()).WithTimeout();
        (await act.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(expected);
    }

    /// <summary>Answers every request with a fixed HTTP status and no gRPC headers, like a proxy in the way.</summary>
    private sealed class StatusHandler(System.Net.HttpStatusCode status) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(status) { RequestMessage = request, Content = new ByteArrayContent([]) });
    }
}
