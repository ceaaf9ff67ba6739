using FluentAssertions;
using Google.Protobuf.WellKnownTypes;
using SynthVlm.Protos.V1;
using SynthVlm.Testing;
using ProtoServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace SynthVlm.Rpc.Tests;

/// <summary>A minimal synthvlm.v1.Worker for the typed client's tests.</summary>
public sealed class TestWorkerService : IRpcService
{
    public static ProtoServiceDescriptor Descriptor => WorkerReflection.Descriptor.Services[0];

    public static WorkerStatus Current { get; } = new()
    {
        Service = "test",
        Instance = "test-1",
        Version = "1.0",
        StartedAt = Timestamp.FromDateTime(new DateTime(2026, 11, 22, 0, 0, 0, DateTimeKind.Utc)),
        RedisConnected = true,
        Queues = { new QueueStatus { Stream = "synthvlm:captions", Group = "curation", Length = 10, Lag = -1, Consuming = true } },
    };

    public Task<WorkerStatus> GetStatus(GetWorkerStatusRequest request, ServerCallContext context) => Task.FromResult(Current);

    public async Task WatchStatus(WatchWorkerStatusRequest request, IServerStreamWriter<WorkerStatus> responses, ServerCallContext context)
    {
        var interval = TimeSpan.FromMilliseconds(request.IntervalMs == 0 ? 1000 : request.IntervalMs);
        while (true)
        {
            await responses.WriteAsync(Current, context.CancellationToken);
            await Task.Delay(interval, context.CancellationToken);
        }
    }
}

public sealed class WorkerClientTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task GetStatus_returns_the_workers_status()
    {
        var status = await new WorkerClient(fixture.Channel).GetStatusAsync(new GetWorkerStatusRequest()).WithTimeout();
        status.Should().Be(TestWorkerService.Current);
    }

    [Fact]
    public async Task WatchStatus_streams_until_the_client_stops()
    {
        using var call = new WorkerClient(fixture.Channel).WatchStatus(new WatchWorkerStatusRequest { IntervalMs = 100 });
        var received = 0;
        await foreach (var status in call.ReadAllAsync(TestTimeout.Token()))
        {
            status.Instance.Should().Be("test-1");
            if (++received == 3)
            {
                break;
            }
        }
        received.Should().Be(3);
    }
}
