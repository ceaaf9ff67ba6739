using FluentAssertions;
using Google.Protobuf;
using Grpc.Health.V1;
using Grpc.Reflection.V1;
using SynthVlm.Protos.V1;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Services.Tests;

/// <summary>
/// A service started alone (its built dll with Kestrel__Endpoints__Grpc__Url) answers Python's
/// grpcio: unary and server-streaming calls, a deadline, an error status, health, server
/// reflection (what `grpcurl list` and `describe` use), unknown method.
/// </summary>
public sealed class GrpcioInteropTests : IAsyncLifetime
{
    private static readonly string Script = Path.Combine(AppContext.BaseDirectory, "interop", "raw_client.py");
    private ServiceProcess _service = null!;

    public async Task InitializeAsync() => _service = await ServiceProcess.StartAsync(KnownServices.Scoring);

    public async Task DisposeAsync() => await _service.DisposeAsync();

    private static string PathOf(Google.Protobuf.Reflection.ServiceDescriptor service, string method) =>
        $"/{service.FullName}/{service.FindMethodByName(method).Name}";

    private async Task<(IReadOnlyList<byte[]> Messages, string Status)> CallAsync(string kind, string path, IMessage request, double? timeoutSeconds = null)
    {
        var args = new List<string> { $"127.0.0.1:{_service.GrpcPort}", kind, path, Convert.ToHexString(request.ToByteArray()) };
        if (timeoutSeconds is not null)
        {
            args.Add(timeoutSeconds.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        var result = await ChildProcess.RunPythonAsync(Script, args, TimeSpan.FromSeconds(30));
        result.ExitCode.Should().Be(0, result.StandardError);
        var messages = result.Lines.Where(l => l.StartsWith("msg ", StringComparison.Ordinal)).Select(l => Convert.FromHexString(l[4..])).ToList();
        var status = result.Lines.Single(l => l.StartsWith("status ", StringComparison.Ordinal))[7..];
        return (messages, status);
    }

    [Fact]
    public async Task Unary_GetStatus_returns_the_service_identity()
    {
        var (messages, status) = await CallAsync("unary", PathOf(WorkerReflection.Descriptor.Services[0], "GetStatus"), new GetWorkerStatusRequest());

        status.Should().Be("OK");
        var reply = WorkerStatus.Parser.ParseFrom(messages.Single());
        reply.Service.Should().Be("scoring");
        reply.RedisConnected.Should().BeFalse("the service was started without ConnectionStrings__redis");
        reply.Queues.Should().ContainSingle(q => q.Stream == KnownStreams.Generated && q.Group == "scoring" && !q.Consuming);
    }

    [Fact]
    public async Task Server_streaming_WatchStatus_sends_updates_until_the_deadline()
    {
        var (messages, status) = await CallAsync("stream", PathOf(WorkerReflection.Descriptor.Services[0], "WatchStatus"),
            new WatchWorkerStatusRequest { IntervalMs = 100 }, timeoutSeconds: 1.0);

        status.Should().StartWith("DEADLINE_EXCEEDED");
        messages.Count.Should().BeGreaterThanOrEqualTo(3, "updates come every 100 ms for a second");
        messages.Select(m => WorkerStatus.Parser.ParseFrom(m).Service).Should().AllBe("scoring");
    }

    [Fact]
    public async Task Out_of_range_field_is_InvalidArgument_naming_the_field()
    {
        var (messages, status) = await CallAsync("stream", PathOf(WorkerReflection.Descriptor.Services[0], "WatchStatus"),
            new WatchWorkerStatusRequest { IntervalMs = 5 }, timeoutSeconds: 10);

        messages.Should().BeEmpty();
        status.Should().StartWith("INVALID_ARGUMENT").And.Contain("interval_ms");
    }

    [Fact]
    public async Task Health_check_answers_SERVING_for_the_server_and_the_stage()
    {
        var health = HealthReflection.Descriptor.Services[0];
        await TestTimeout.Until(async () =>
        {
            var (m, s) = await CallAsync("unary", PathOf(health, "Check"), new HealthCheckRequest());
            return s == "OK" && HealthCheckResponse.Parser.ParseFrom(m.Single()).Status == HealthCheckResponse.Types.ServingStatus.Serving;
        }, TimeSpan.FromSeconds(20), "overall SERVING");

        var (messages, status) = await CallAsync("unary", PathOf(health, "Check"), new HealthCheckRequest { Service = "scoring" });
        status.Should().Be("OK");
        HealthCheckResponse.Parser.ParseFrom(messages.Single()).Status.Should().Be(HealthCheckResponse.Types.ServingStatus.Serving);

        var (_, unknown) = await CallAsync("unary", PathOf(health, "Check"), new HealthCheckRequest { Service = "no-such-service" });
        unknown.Should().StartWith("NOT_FOUND");
    }

    [Fact]
    public async Task Unknown_method_is_Unimplemented()
    {
        var (_, status) = await CallAsync("unary", "/synthvlm.v1.Worker/NoSuchMethod", new GetWorkerStatusRequest());
        status.Should().StartWith("UNIMPLEMENTED");
    }

    [Fact]
    public async Task Server_reflection_lists_the_services_and_describes_them()
    {
        var reflection = ServerReflection.Descriptor;
        var (messages, status) = await CallAsync("bidi", PathOf(reflection, "ServerReflectionInfo"), new ServerReflectionRequest { ListServices = "" }, timeoutSeconds: 10);

        status.Should().Be("OK");
        var listed = ServerReflectionResponse.Parser.ParseFrom(messages.Single()).ListServicesResponse.Service.Select(s => s.Name);
        listed.Should().Contain(["synthvlm.v1.Worker", "synthvlm.v1.Scoring", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"]);

        (messages, status) = await CallAsync("bidi", PathOf(reflection, "ServerReflectionInfo"), new ServerReflectionRequest { FileContainingSymbol = "synthvlm.v1.Scoring" }, timeoutSeconds: 10);
        status.Should().Be("OK");
        var files = ServerReflectionResponse.Parser.ParseFrom(messages.Single()).FileDescriptorResponse.FileDescriptorProto
            .Select(b => Google.Protobuf.Reflection.FileDescriptorProto.Parser.ParseFrom(b)).ToList();
        var scoring = files.Should().ContainSingle(f => f.Name == "synthvlm/v1/scoring.proto").Subject;
        scoring.Service.Single().Method.Select(m => m.Name).Should().Equal("Score", "ScoreBatch");
    }
}
