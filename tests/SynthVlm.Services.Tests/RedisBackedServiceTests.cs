using System.Net;
using FluentAssertions;
using Grpc.Health.V1;
using SynthVlm.Protos.V1;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Streams;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Services.Tests;

/// <summary>
/// A service with ConnectionStrings__redis against a real, password-protected redis-server:
/// it creates its consumer group, reports its queue, and its health follows Redis going away
/// and coming back; a wrong password is reported clearly instead of crashing the service.
/// </summary>
public sealed class RedisBackedServiceTests : IAsyncLifetime
{
    private RedisServer _redis = null!;

    public async Task InitializeAsync() => _redis = await RedisServer.StartAsync(new RedisServerOptions { Password = "pw-123", AppendOnly = true });

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    private static async Task<HealthCheckResponse.Types.ServingStatus> GrpcHealthAsync(GrpcChannel channel) =>
        (await new Grpc.Health.V1.Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(5))).Status;

    [Fact]
    public async Task Service_reports_its_queue_and_its_health_follows_redis()
    {
        // EvalService's worker consumes synthvlm:checkpoints; entries of an unknown kind are dead-lettered.
        await using var service = await ServiceProcess.StartAsync(KnownServices.Eval,
            new Dictionary<string, string?> { [KnownEnvironment.RedisConnectionStringEnv] = _redis.ConnectionString });
        using var channel = GrpcChannel.ForAddress(service.GrpcAddress);
        var worker = new Protos.V1.Worker.WorkerClient(channel);

        await TestTimeout.Until(async () => (await worker.GetStatusAsync(new GetWorkerStatusRequest())).Queues[0].Lag == 0, what: "the eval group on synthvlm:checkpoints");
        await using (var redisMux = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse(_redis.ConnectionString)).WithTimeout())
        {
            var redis = redisMux.GetDatabase();
            for (var i = 0; i < 3; i++)
            {
                await redis.ExecuteAsync("XADD", KnownStreams.Checkpoints, "*", KnownStreamFields.Run, "r", KnownStreamFields.Kind, "k", KnownStreamFields.Data, "x").WithTimeout();
            }
        }

        await TestTimeout.Until(async () => (await worker.GetStatusAsync(new GetWorkerStatusRequest())).Queues[0] is { Lag: 0, Pending: 0 }, what: "the three entries consumed");
        var status = await worker.GetStatusAsync(new GetWorkerStatusRequest()).ResponseAsync.WithTimeout();
        status.RedisConnected.Should().BeTrue();
        var queue = status.Queues.Should().ContainSingle().Subject;
        (queue.Stream, queue.Group, queue.Length, queue.Pending, queue.Lag, queue.Consuming).Should().Be((KnownStreams.Checkpoints, "eval", 3L, 0L, 0L, true));
        await using (var redisMux = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse(_redis.ConnectionString)).WithTimeout())
        {
            (await redisMux.GetDatabase().StreamLengthAsync(KnownStreams.Dead).WithTimeout()).Should().Be(3, "an entry of kind 'k' is not a ModelReady: dead-lettered, not retried");
        }
        await TestTimeout.Until(async () => await GrpcHealthAsync(channel) == HealthCheckResponse.Types.ServingStatus.Serving, what: "SERVING");

        // Redis goes away: /health turns 503 and gRPC health NOT_SERVING, the process keeps serving.
        await _redis.StopAsync();
        using var http = new HttpClient();
        await TestTimeout.Until(async () => (await http.GetAsync(new Uri(service.HttpAddress, "/health"))).StatusCode == HttpStatusCode.ServiceUnavailable, what: "/health 503");
        await TestTimeout.Until(async () => await GrpcHealthAsync(channel) == HealthCheckResponse.Types.ServingStatus.NotServing, what: "NOT_SERVING");
        (await http.GetAsync(new Uri(service.HttpAddress, "/alive"))).StatusCode.Should().Be(HttpStatusCode.OK);

        // Redis is back (AOF replayed): the connection recovers by itself and the queue is intact.
        await _redis.RestartAsync();
        await TestTimeout.Until(async () => await GrpcHealthAsync(channel) == HealthCheckResponse.Types.ServingStatus.Serving, TimeSpan.FromSeconds(45), "SERVING again");
        (await worker.GetStatusAsync(new GetWorkerStatusRequest()).ResponseAsync.WithTimeout()).Queues[0].Length.Should().Be(3);
        service.HasExited.Should().BeFalse();
    }

    [Fact]
    public async Task Wrong_password_is_reported_in_health_without_leaking_it()
    {
        await using var service = await ServiceProcess.StartAsync(KnownServices.Curation,
            new Dictionary<string, string?> { [KnownEnvironment.RedisConnectionStringEnv] = $"127.0.0.1:{_redis.Port},password=not-the-password" });
        using var http = new HttpClient();

        string body = string.Empty;
        await TestTimeout.Until(async () =>
        {
            using var response = await http.GetAsync(new Uri(service.HttpAddress, "/health"));
            body = await response.Content.ReadAsStringAsync();
            return response.StatusCode == HttpStatusCode.ServiceUnavailable && body.Contains("password", StringComparison.OrdinalIgnoreCase);
        }, what: "unhealthy with a password reason");

        body.Should().NotContain("not-the-password");
        service.Output.Should().NotContain("not-the-password");
        service.HasExited.Should().BeFalse();
    }
}
