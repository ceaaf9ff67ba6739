using System.Collections.Concurrent;
using System.Net;
using System.Text;
using FluentAssertions;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using SynthVlm.Protos.V1;
using SynthVlm.ServiceDefaults;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.ServiceDefaults.Tests;

/// <summary>
/// With OTEL_EXPORTER_OTLP_ENDPOINT set, a service exports traces, metrics and logs over OTLP
/// http/protobuf to the per-signal paths; with the collector unreachable it keeps serving.
/// The receiver is an HTTP listener that records what arrives (no collector is installed here).
/// </summary>
public sealed class TelemetryExportTests
{
    private static WebApplication Build(int grpcPort, Uri otlp) =>
        ServiceHost.Build(
            [
                $"--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:{grpcPort}",
                $"--Kestrel:Endpoints:Http:Url=http://127.0.0.1:{FreePort.Next()}",
                $"--OTEL_EXPORTER_OTLP_ENDPOINT={otlp}",
            ],
            KnownServices.Selection);

    [Fact]
    public async Task Traces_metrics_and_logs_arrive_at_the_otlp_endpoint_with_the_service_name()
    {
        var otlpPort = FreePort.Next();
        var received = new ConcurrentDictionary<string, byte[]>();
        using var receiver = new HttpListener();
        receiver.Prefixes.Add($"http://127.0.0.1:{otlpPort}/");
        receiver.Start();
        using var stop = new CancellationTokenSource();
        var receiving = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var context = await receiver.GetContextAsync();
                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                received.AddOrUpdate(context.Request.Url!.AbsolutePath, body.ToArray(), (_, old) => [.. old, .. body.ToArray()]);
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/x-protobuf";
                context.Response.Close();
            }
        });

        var grpcPort = FreePort.Next();
        await using (var app = Build(grpcPort, new Uri($"http://127.0.0.1:{otlpPort}")))
        {
            await app.StartAsync().WithTimeout();
            using var channel = GrpcChannel.ForAddress(new Uri($"http://127.0.0.1:{grpcPort}"));
            await new Worker.WorkerClient(channel).GetStatusAsync(new GetWorkerStatusRequest()).ResponseAsync.WithTimeout();
            // Stopping flushes the providers (traces and metrics) and the log exporter.
            await app.StopAsync().WithTimeout();
        }
        await TestTimeout.Until(() => received.ContainsKey("/v1/traces") && received.ContainsKey("/v1/metrics") && received.ContainsKey("/v1/logs"),
            TimeSpan.FromSeconds(20), "traces, metrics and logs");
        await stop.CancelAsync();
        receiver.Stop();

        foreach (var path in new[] { "/v1/traces", "/v1/metrics", "/v1/logs" })
        {
            Encoding.UTF8.GetString(received[path]).Should().Contain("selection", $"{path} carries the service.name resource attribute");
        }
        Encoding.UTF8.GetString(received["/v1/traces"]).Should().Contain("synthvlm.v1.Worker", "the gRPC call is traced");
    }

    [Fact]
    public async Task An_unreachable_collector_does_not_stop_the_service()
    {
        var grpcPort = FreePort.Next();
        await using var app = Build(grpcPort, new Uri($"http://127.0.0.1:{FreePort.Next()}"));
        await app.StartAsync().WithTimeout();
        using var channel = GrpcChannel.ForAddress(new Uri($"http://127.0.0.1:{grpcPort}"));

        for (var i = 0; i < 3; i++)
        {
            var status = await new Worker.WorkerClient(channel).GetStatusAsync(new GetWorkerStatusRequest()).ResponseAsync.WithTimeout();
            status.Service.Should().Be("selection");
        }
        await app.StopAsync().WithTimeout(TimeSpan.FromSeconds(60));
    }
}
