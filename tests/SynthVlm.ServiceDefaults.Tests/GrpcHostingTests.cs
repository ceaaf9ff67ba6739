using System.Collections.Concurrent;
using System.Diagnostics;
using FluentAssertions;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using SynthVlm.Protos.V1;
using SynthVlm.ServiceDefaults;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.ServiceDefaults.Tests;

/// <summary>
/// The gRPC server ServiceHost builds (grpc-dotnet), called by grpc-dotnet's client over h2c on
/// loopback: the caller's trace continues on the server, deadlines and message size limits
/// give their status codes, and validation errors name the field.
/// </summary>
public sealed class GrpcHostingTests
{
    private static WebApplication Build(int grpcPort) =>
        ServiceHost.Build(
            [
                $"--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:{grpcPort}",
                $"--Kestrel:Endpoints:Http:Url=http://127.0.0.1:{FreePort.Next()}",
            ],
            KnownServices.Selection);

    [Fact]
    public async Task The_callers_trace_continues_on_the_server_and_the_span_names_the_method_and_status()
    {
        var serverSpans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "Microsoft.AspNetCore" or "SynthVlm.Tests",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { if (a.Kind == ActivityKind.Server) { serverSpans.Enqueue(a); } },
        };
        ActivitySource.AddActivityListener(listener);

        var grpcPort = FreePort.Next();
        await using var app = Build(grpcPort);
        await app.StartAsync().WithTimeout();
        using var channel = GrpcChannel.ForAddress(new Uri($"http://127.0.0.1:{grpcPort}"));
        var client = new Worker.WorkerClient(channel);

        using var source = new ActivitySource("SynthVlm.Tests");
        string traceId;
        using (var caller = source.StartActivity("caller", ActivityKind.Client))
        {
            traceId = caller!.TraceId.ToString();
            await client.GetStatusAsync(new GetWorkerStatusRequest()).ResponseAsync.WithTimeout();
            var bad = () => client.WatchStatus(new WatchWorkerStatusRequest { IntervalMs = 5 }).ResponseStream.MoveNext(TestTimeout.Token());
            (await bad.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.InvalidArgument);
        }

        await TestTimeout.Until(() => serverSpans.Count(s => s.TraceId.ToString() == traceId) >= 2, what: "two server spans in the caller's trace");
        var spans = serverSpans.Where(s => s.TraceId.ToString() == traceId).ToList();
        var ok = spans.Single(s => (string?)s.GetTagItem("grpc.method") == "/synthvlm.v1.Worker/GetStatus");
        ok.GetTagItem("grpc.status_code").Should().Be("0");
        ok.DisplayName.Should().Be("synthvlm.v1.Worker/GetStatus");
        (ok.GetTagItem("rpc.system"), ok.GetTagItem("rpc.service"), ok.GetTagItem("rpc.method"), ok.GetTagItem("rpc.grpc.status_code"))
            .Should().Be(("grpc", "synthvlm.v1.Worker", "GetStatus", 0));
        ok.Status.Should().Be(ActivityStatusCode.Unset);
        ok.ParentSpanId.Should().NotBe(default(ActivitySpanId), "the server span's parent is the client's span from traceparent");
        var failed = spans.Single(s => (string?)s.GetTagItem("grpc.method") == "/synthvlm.v1.Worker/WatchStatus");
        failed.GetTagItem("grpc.status_code").Should().Be("3");
        failed.GetTagItem("rpc.grpc.status_code").Should().Be(3);
        failed.Status.Should().Be(ActivityStatusCode.Error);
        failed.StatusDescription.Should().Contain("InvalidArgument").And.Contain("interval_ms");
        await app.StopAsync().WithTimeout();
    }

    [Fact]
    public async Task Deadlines_end_calls_with_DeadlineExceeded_and_oversized_requests_are_ResourceExhausted()
    {
        var grpcPort = FreePort.Next();
        await using var app = Build(grpcPort);
        await app.StartAsync().WithTimeout();
        using var channel = GrpcChannel.ForAddress(new Uri($"http://127.0.0.1:{grpcPort}"));

        // WatchStatus never ends by itself: the deadline ends it. The deadline leaves seconds for the first
        // update even on a loaded machine (a 1 s deadline once ended the call before any update arrived).
        var updates = 0;
        var watch = async () =>
        {
            using var call = new Worker.WorkerClient(channel).WatchStatus(new WatchWorkerStatusRequest { IntervalMs = 100 }, deadline: DateTime.UtcNow.AddSeconds(5));
            await foreach (var _ in call.ResponseStream.ReadAllAsync(TestTimeout.Token()))
            {
                updates++;
            }
        };
        (await watch.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.DeadlineExceeded);
        updates.Should().BeGreaterThan(0);

        // A request over the 4 MiB limit, sent as raw bytes to a real method.
        var raw = new Method<byte[], byte[]>(MethodType.Unary, "synthvlm.v1.Worker", "GetStatus",
            Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));
        var big = new byte[GrpcHosting.MaxMessageSize + 1];
        var oversized = () => channel.CreateCallInvoker().AsyncUnaryCall(raw, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30)), big).ResponseAsync.WithTimeout();
        (await oversized.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.ResourceExhausted);

        // The channel still works after both.
        (await new Worker.WorkerClient(channel).GetStatusAsync(new GetWorkerStatusRequest()).ResponseAsync.WithTimeout()).Service.Should().Be("selection");
        await app.StopAsync().WithTimeout();
    }
}
