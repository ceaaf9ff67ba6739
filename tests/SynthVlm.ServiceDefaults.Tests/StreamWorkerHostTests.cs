using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using FluentAssertions;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using SynthVlm.Protos.V1;
using SynthVlm.Streams;
using SynthVlm.ServiceDefaults;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.ServiceDefaults.Tests;

/// <summary>
/// A service built by ServiceHost with a stream worker consumes its input stream from a real Redis:
/// each entry gets a consumer span whose parent is the producer's span (one trace across the
/// stream), counters move, and the Worker service reports the queue.
/// </summary>
public sealed class StreamWorkerHostTests : IAsyncLifetime
{
    private RedisServer _redis = null!;

    public async Task InitializeAsync() => _redis = await RedisServer.StartAsync(new RedisServerOptions { Password = "s3cret" });

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    private sealed class RecordingHandler : IStreamHandler
    {
        public ConcurrentQueue<(string Run, string Payload, string? TraceId)> Handled { get; } = new();

        public Task HandleAsync(StreamEntry entry, CancellationToken cancellationToken)
        {
            Handled.Enqueue((entry.Run, Encoding.UTF8.GetString(entry.Data.Span), Activity.Current?.TraceId.ToString()));
            return Task.CompletedTask;
        }
    }

    private WebApplication BuildScoring(int grpcPort, int httpPort) =>
        ServiceHost.Build(
            [
                $"--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:{grpcPort}",
                $"--Kestrel:Endpoints:Http:Url=http://127.0.0.1:{httpPort}",
                $"--ConnectionStrings:redis={_redis.ConnectionString}",
                "--SYNTHVLM_INSTANCE=scoring-test",
                "--SynthVlm:Streams:Consumer:BlockTimeout=00:00:00.200",
            ],
            KnownServices.Scoring,
            builder => builder.Services.AddStreamWorker<RecordingHandler>());

    [Fact]
    public async Task Consumer_spans_continue_the_producer_trace_and_counters_and_status_report_the_work()
    {
        var consumerSpans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == StreamTelemetry.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { if (a.Kind == ActivityKind.Consumer) { consumerSpans.Enqueue(a); } },
        };
        ActivitySource.AddActivityListener(listener);
        long acked = 0;
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, l) => { if (instrument.Name == StreamTelemetry.AckedCounter) { l.EnableMeasurementEvents(instrument); } },
        };
        meters.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref acked, value));
        meters.Start();

        var grpcPort = FreePort.Next();
        await using var app = BuildScoring(grpcPort, FreePort.Next());
        await app.StartAsync().WithTimeout();
        var handler = app.Services.GetRequiredService<RecordingHandler>();

        await using var connectionMux = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse(_redis.ConnectionString)).WithTimeout();
        var connection = connectionMux.GetDatabase();
        var producer = new StreamProducer(connection);
        using var source = new ActivitySource("SynthVlm.Tests");
        using var runSpan = source.StartActivity("run");
        var traceId = runSpan!.TraceId.ToString();
        for (var i = 0; i < 5; i++)
        {
            await producer.ProduceAsync(KnownStreams.Generated, "run-1", "test", Encoding.UTF8.GetBytes($"item-{i}")).WithTimeout();
        }
        runSpan.Stop();

        await TestTimeout.Until(() => handler.Handled.Count == 5 && consumerSpans.Count == 5, what: "five handled entries");
        handler.Handled.Select(h => h.Payload).Should().Equal("item-0", "item-1", "item-2", "item-3", "item-4");
        handler.Handled.Should().OnlyContain(h => h.Run == "run-1" && h.TraceId == traceId, "the handler runs inside the consumer span of the run's trace");
        consumerSpans.Should().OnlyContain(s => s.TraceId.ToString() == traceId && s.ParentSpanId != default);
        consumerSpans.Should().OnlyContain(s => s.Links.Any(l => l.Context.TraceId.ToString() == traceId));

        await TestTimeout.Until(() => Interlocked.Read(ref acked) >= 5, what: "acked counter");
        using var channel = GrpcChannel.ForAddress(new Uri($"http://127.0.0.1:{grpcPort}"));
        var status = await new Worker.WorkerClient(channel).GetStatusAsync(new GetWorkerStatusRequest()).ResponseAsync.WithTimeout();
        status.Instance.Should().Be("scoring-test");
        status.RedisConnected.Should().BeTrue();
        var queue = status.Queues.Should().ContainSingle(q => q.Stream == KnownStreams.Generated).Subject;
        queue.Consuming.Should().BeTrue();
        queue.Acked.Should().Be(5);
        queue.Length.Should().Be(5);
        queue.Pending.Should().Be(0);
        queue.Lag.Should().Be(0);

        await app.StopAsync().WithTimeout();
    }

    [Fact]
    public void A_stream_worker_without_redis_is_refused_naming_the_setting()
    {
        var act = () => ServiceHost.Build(
            [$"--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:{FreePort.Next()}", $"--Kestrel:Endpoints:Http:Url=http://127.0.0.1:{FreePort.Next()}"],
            KnownServices.Scoring,
            builder => builder.Services.AddStreamWorker<RecordingHandler>());

        act.Should().Throw<StartupConfigurationException>().Which.Message.Should().Contain("ConnectionStrings:redis").And.Contain(KnownStreams.Generated);
    }
}
