using FluentAssertions;
using Google.Protobuf;
using SynthVlm.Rpc.Tests.Protos;
using SynthVlm.Testing;

namespace SynthVlm.Rpc.Tests;

public sealed class RoundTripTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private RpcChannel Channel => fixture.Channel;

    [Fact]
    public async Task Unary_echo_round_trips()
    {
        var response = await Channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Echo, new EchoRequest { Message = "héllo" }).WithTimeout();
        response.Message.Should().Be("héllo");
    }

    [Fact]
    public async Task Unary_calls_run_concurrently_on_one_channel()
    {
        var calls = Enumerable.Range(0, 64).Select(i =>
            Channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Echo, new EchoRequest { Message = $"m{i}" }));
        var responses = await Task.WhenAll(calls).WithTimeout();
        responses.Select(r => r.Message).Should().Equal(Enumerable.Range(0, 64).Select(i => $"m{i}"));
    }

    [Fact]
    public async Task Server_streaming_delivers_every_message_then_ok()
    {
        using var call = Channel.ServerStreaming<StreamRequest, EchoResponse>(TestMethods.Stream, new StreamRequest { Count = 25, Message = "s" });
        var received = new List<string>();
        await foreach (var message in call.ReadAllAsync(TestTimeout.Token()))
        {
            received.Add(message.Message);
        }
        received.Should().Equal(Enumerable.Range(0, 25).Select(i => $"s{i}"));
        call.GetStatus().Code.Should().Be(RpcStatusCode.OK);
    }

    [Fact]
    public async Task Server_streaming_with_zero_messages_completes_ok()
    {
        using var call = Channel.ServerStreaming<StreamRequest, EchoResponse>(TestMethods.Stream, new StreamRequest { Count = 0 });
        var count = 0;
        await foreach (var unused in call.ReadAllAsync(TestTimeout.Token()))
        {
            count++;
        }
        count.Should().Be(0);
        call.GetStatus().Should().Be(RpcStatus.Ok);
    }

    [Fact]
    public async Task Streaming_error_after_messages_arrives_in_trailers()
    {
        using var call = Channel.ServerStreaming<StreamRequest, EchoResponse>(TestMethods.Stream, new StreamRequest { Count = 10, FailAfter = 3, Message = "f" });
        var received = new List<string>();
        var act = async () =>
        {
            await foreach (var message in call.ReadAllAsync(TestTimeout.Token()))
            {
                received.Add(message.Message);
            }
        };
        var ex = (await act.Should().ThrowAsync<RpcException>()).Which;
        received.Should().Equal("f0", "f1", "f2");
        ex.StatusCode.Should().Be(RpcStatusCode.Aborted);
        ex.Status.Detail.Should().Be("stopped after 3");
        ex.Trailers.GetValue("x-failed-at").Should().Be("3");
        call.GetStatus().Code.Should().Be(RpcStatusCode.Aborted);
        call.GetTrailers().GetValue("x-failed-at").Should().Be("3");
    }

    [Fact]
    public async Task Metadata_travels_both_ways_including_binary()
    {
        var blob = new byte[] { 0, 1, 2, 250, 255 };
        var headers = new Metadata { { "x-plain", "value 1" }, { "x-data-bin", blob } };
        var result = await Channel.UnaryCallAsync<EchoRequest, EchoResponse>(TestMethods.EchoHeaders, new EchoRequest(), new CallOptions(headers)).WithTimeout();

        result.Response.Message.Should().Be(TestMethods.Path(TestMethods.EchoHeaders));
        result.ResponseHeaders.GetValue("echo-x-plain").Should().Be("value 1");
        result.ResponseHeaders.GetValueBytes("echo-x-data-bin").Should().Equal(blob);
        result.Trailers.GetValue("trailer-x-plain").Should().Be("value 1");
        result.Trailers.GetValueBytes("trailer-x-data-bin").Should().Equal(blob);
    }

    [Fact]
    public async Task Error_status_detail_and_trailers_reach_the_client()
    {
        const string detail = "bad thing ✓ 100% — ünïcode\nline2";
        var act = () => Channel.UnaryAsync<FailRequest, EchoResponse>(TestMethods.Fail, new FailRequest { Code = (int)RpcStatusCode.FailedPrecondition, Detail = detail });
        var ex = (await act.Should().ThrowAsync<RpcException>()).Which;
        ex.StatusCode.Should().Be(RpcStatusCode.FailedPrecondition);
        ex.Status.Detail.Should().Be(detail);
        ex.Message.Should().Contain("FailedPrecondition").And.Contain("100%");
        ex.Trailers.GetValue("x-reason").Should().Be("because");
        ex.Trailers.GetValueBytes("x-blob-bin").Should().Equal(0, 1, 2, 255);
    }

    [Fact]
    public async Task Unhandled_exception_is_unknown_without_details()
    {
        var act = () => Channel.UnaryAsync<FailRequest, EchoResponse>(TestMethods.Fail, new FailRequest { Code = -1 });
        var ex = (await act.Should().ThrowAsync<RpcException>()).Which;
        ex.StatusCode.Should().Be(RpcStatusCode.Unknown);
        ex.Status.Detail.Should().Be("Exception was thrown by handler.");
        ex.Status.Detail.Should().NotContain("secret");
    }

    [Fact]
    public async Task Deadline_exceeded_on_client_and_handler_token_cancelled()
    {
        var id = Guid.NewGuid().ToString();
        var deadline = DateTime.UtcNow.AddMilliseconds(1000);
        var act = () => Channel.UnaryAsync<SlowRequest, EchoResponse>(TestMethods.Slow, new SlowRequest { Id = id }, new CallOptions(deadline: deadline));
        var ex = (await act.Should().ThrowAsync<RpcException>()).Which;
        ex.StatusCode.Should().Be(RpcStatusCode.DeadlineExceeded);
        DateTime.UtcNow.Should().BeOnOrAfter(deadline);

        var cancelledAt = await fixture.Server.Observer.Cancelled(id).Task.WithTimeout();
        var serverDeadline = fixture.Server.Observer.Deadlines[id];
        serverDeadline.Should().BeCloseTo(deadline, TimeSpan.FromMilliseconds(500));
        cancelledAt.Should().BeOnOrAfter(deadline.AddMilliseconds(-300));
    }

    [Fact]
    public async Task Handler_ignoring_its_deadline_gets_the_stream_reset_with_cancel()
    {
        var id = Guid.NewGuid().ToString();
        using var raw = new RawGrpcClient(fixture.Server.Address);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var act = () => raw.SendAsync(TestMethods.Path(TestMethods.Slow), RawGrpcClient.Frame(0, new SlowRequest { Id = id, IgnoreCancellationMs = 4000 }.ToByteArray()),
            headers: ("grpc-timeout", "200m")).WithTimeout();
        var ex = (await act.Should().ThrowAsync<HttpRequestException>()).Which;
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(3.5), "the server resets after its deadline plus a grace period, not when the handler returns");
        var protocol = Chain(ex).OfType<HttpProtocolException>().FirstOrDefault();
        protocol.Should().NotBeNull(ex.ToString());
        protocol!.ErrorCode.Should().Be(8);
    }

    [Fact]
    public async Task Deadline_already_passed_fails_without_calling()
    {
        var act = () => Channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Echo, new EchoRequest { Message = "late" }, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(-1)));
        (await act.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(RpcStatusCode.DeadlineExceeded);
        fixture.Server.Observer.Deadlines.ContainsKey("late").Should().BeFalse();
    }

    [Fact]
    public async Task Deadline_is_sent_as_grpc_timeout()
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        await Channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Echo, new EchoRequest { Message = "dl" }, new CallOptions(deadline: deadline)).WithTimeout();
        fixture.Server.Observer.Deadlines["dl"].Should().BeCloseTo(deadline, TimeSpan.FromMilliseconds(500));

        await Channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Echo, new EchoRequest { Message = "nodl" }).WithTimeout();
        fixture.Server.Observer.Deadlines["nodl"].Should().Be(DateTime.MaxValue);
    }

    [Fact]
    public async Task Far_deadline_is_accepted()
    {
        var far = await Channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Echo, new EchoRequest { Message = "far" }, new CallOptions(deadline: DateTime.UtcNow.AddYears(5))).WithTimeout();
        far.Message.Should().Be("far");
        var max = await Channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Echo, new EchoRequest { Message = "max" }, new CallOptions(deadline: DateTime.MaxValue)).WithTimeout();
        max.Message.Should().Be("max");
        fixture.Server.Observer.Deadlines["max"].Should().Be(DateTime.MaxValue);
    }

    [Fact]
    public async Task Streaming_deadline_ends_the_stream_with_deadline_exceeded()
    {
        var id = Guid.NewGuid().ToString();
        using var call = Channel.ServerStreaming<StreamRequest, EchoResponse>(TestMethods.Stream,
            new StreamRequest { Count = 1000, DelayMs = 50, Message = id }, new CallOptions(deadline: DateTime.UtcNow.AddMilliseconds(1000)));
        var received = 0;
        var act = async () =>
        {
            await foreach (var unused in call.ReadAllAsync(TestTimeout.Token()))
            {
                received++;
            }
        };
        (await act.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(RpcStatusCode.DeadlineExceeded);
        received.Should().BeInRange(1, 40);
        call.GetStatus().Code.Should().Be(RpcStatusCode.DeadlineExceeded);
        await fixture.Server.Observer.Cancelled(id).Task.WithTimeout();
    }

    [Fact]
    public async Task Client_cancellation_propagates_to_the_handler()
    {
        var id = Guid.NewGuid().ToString();
        using var cts = new CancellationTokenSource();
        var call = Channel.UnaryAsync<SlowRequest, EchoResponse>(TestMethods.Slow, new SlowRequest { Id = id }, new CallOptions(cancellationToken: cts.Token));
        await fixture.Server.Observer.Started(id).Task.WithTimeout();
        await cts.CancelAsync();

        var act = () => call.WithTimeout();
        (await act.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(RpcStatusCode.Cancelled);
        await fixture.Server.Observer.Cancelled(id).Task.WithTimeout();
    }

    [Fact]
    public async Task Disposing_a_stream_early_cancels_the_server_handler()
    {
        var id = Guid.NewGuid().ToString();
        var call = Channel.ServerStreaming<StreamRequest, EchoResponse>(TestMethods.Stream, new StreamRequest { Count = 1000, DelayMs = 20, Message = id });
        var received = 0;
        await foreach (var unused in call.ReadAllAsync(TestTimeout.Token()))
        {
            if (++received == 2)
            {
                break;
            }
        }
        call.Dispose();
        await fixture.Server.Observer.Cancelled(id).Task.WithTimeout();
        call.GetStatus().Code.Should().Be(RpcStatusCode.Cancelled);
    }

    [Fact]
    public async Task Large_messages_round_trip_within_limits()
    {
        var payload = TestServiceImpl.Filled(3 * 1024 * 1024);
        var response = await Channel.UnaryAsync<BigRequest, BigResponse>(TestMethods.Big,
            new BigRequest { ResponseSize = 5 * 1024 * 1024, Payload = ByteString.CopyFrom(payload) }).WithTimeout();
        response.Received.Should().Be(payload.Length);
        response.Payload.Span.SequenceEqual(TestServiceImpl.Filled(5 * 1024 * 1024)).Should().BeTrue();
    }

    [Theory]
    [InlineData(8, RpcStatusCode.Cancelled)]
    [InlineData(7, RpcStatusCode.Unavailable)]
    [InlineData(11, RpcStatusCode.ResourceExhausted)]
    [InlineData(12, RpcStatusCode.PermissionDenied)]
    [InlineData(2, RpcStatusCode.Internal)]
    public async Task Server_rst_stream_code_maps_to_status(int http2Code, RpcStatusCode expected)
    {
        var act = () => Channel.UnaryAsync<FailRequest, EchoResponse>(TestMethods.Reset, new FailRequest { Code = http2Code }).WithTimeout();
        var ex = (await act.Should().ThrowAsync<RpcException>()).Which;
        ex.StatusCode.Should().Be(expected);
        (await Channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Echo, new EchoRequest { Message = "after reset" }).WithTimeout()).Message.Should().Be("after reset");
    }

    [Fact]
    public async Task Unknown_method_is_unimplemented()
    {
        var act = () => Channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Missing, new EchoRequest()).WithTimeout();
        var ex = (await act.Should().ThrowAsync<RpcException>()).Which;
        ex.StatusCode.Should().Be(RpcStatusCode.Unimplemented);
        ex.Status.Detail.Should().Contain("/synthvlm.test.TestService/Missing");
    }

    private static IEnumerable<Exception> Chain(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            yield return ex;
        }
    }
}
