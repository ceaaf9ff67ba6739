using System.IO.Compression;
using System.Net;
using FluentAssertions;
using Google.Protobuf;
using SynthVlm.Rpc.Tests.Protos;
using SynthVlm.Testing;

namespace SynthVlm.Rpc.Tests;

/// <summary>Hand-made HTTP/2 requests: what the server answers to bad framing, and that it keeps serving.</summary>
public sealed class ProtocolTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly string EchoPath = TestMethods.Path(TestMethods.Echo);

    private static string Code(RpcStatusCode code) => ((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static byte[] EchoBytes(string message) => new EchoRequest { Message = message }.ToByteArray();

    public static TheoryData<string, byte[], RpcStatusCode> MalformedBodies => new()
    {
        { "truncated prefix", [0, 0, 0], RpcStatusCode.Internal },
        { "length larger than body", [0, 0, 0, 0, 10, 0x0a, 0x01, 0x41], RpcStatusCode.Internal },
        { "garbage proto", RawGrpcClient.Frame(0, [0xFF, 0xFF, 0xFF]), RpcStatusCode.Internal },
        { "compressed flag without grpc-encoding", RawGrpcClient.Frame(1, EchoBytes("x")), RpcStatusCode.Internal },
        { "invalid compressed flag", RawGrpcClient.Frame(7, EchoBytes("x")), RpcStatusCode.Internal },
        { "no message", [], RpcStatusCode.Unimplemented },
        { "two messages", [.. RawGrpcClient.Frame(0, EchoBytes("a")), .. RawGrpcClient.Frame(0, EchoBytes("b"))], RpcStatusCode.Unimplemented },
    };

    [Theory]
    [MemberData(nameof(MalformedBodies))]
    public async Task Malformed_request_gets_status_and_server_keeps_serving(string what, byte[] body, RpcStatusCode expected)
    {
        using var raw = new RawGrpcClient(fixture.Server.Address);
        var response = await raw.SendAsync(EchoPath, body).WithTimeout();
        response.HttpStatus.Should().Be(HttpStatusCode.OK, what);
        response.Status.Should().Be(Code(expected), what);
        response.Message.Should().NotBeNullOrEmpty();

        var ok = await raw.SendAsync(EchoPath, RawGrpcClient.Frame(0, EchoBytes("after " + what))).WithTimeout();
        ok.TrailerStatus.Should().Be("0");
        EchoResponse.Parser.ParseFrom(ok.Body.AsSpan(5)).Message.Should().Be("after " + what);
    }

    [Fact]
    public async Task Unsupported_encoding_is_unimplemented_with_accepted_encodings()
    {
        using var raw = new RawGrpcClient(fixture.Server.Address);
        var response = await raw.SendAsync(EchoPath, RawGrpcClient.Frame(1, EchoBytes("x")), headers: ("grpc-encoding", "snappy")).WithTimeout();
        response.Status.Should().Be(Code(RpcStatusCode.Unimplemented));
        response.Headers.GetValues("grpc-accept-encoding").Single().Should().Contain("gzip");
    }

    [Fact]
    public async Task Gzip_compressed_request_is_accepted()
    {
        using var compressed = new MemoryStream();
        await using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(EchoBytes("zipped"));
        }
        using var raw = new RawGrpcClient(fixture.Server.Address);
        var response = await raw.SendAsync(EchoPath, RawGrpcClient.Frame(1, compressed.ToArray()), headers: ("grpc-encoding", "gzip")).WithTimeout();
        response.TrailerStatus.Should().Be("0");
        EchoResponse.Parser.ParseFrom(response.Body.AsSpan(5)).Message.Should().Be("zipped");
    }

    [Fact]
    public async Task Successful_unary_is_headers_message_trailers()
    {
        using var raw = new RawGrpcClient(fixture.Server.Address);
        var response = await raw.SendAsync(EchoPath, RawGrpcClient.Frame(0, EchoBytes("wire"))).WithTimeout();
        response.HeaderStatus.Should().BeNull();
        response.TrailerStatus.Should().Be("0");
        response.Headers.Should().NotBeNull();
        response.Body[0].Should().Be(0);
        System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(response.Body.AsSpan(1)).Should().Be((uint)(response.Body.Length - 5));
    }

    [Fact]
    public async Task Unknown_method_is_trailers_only_unimplemented()
    {
        using var raw = new RawGrpcClient(fixture.Server.Address);
        var response = await raw.SendAsync("/synthvlm.test.TestService/NoSuchMethod", RawGrpcClient.Frame(0, [])).WithTimeout();
        response.HttpStatus.Should().Be(HttpStatusCode.OK);
        response.IsTrailersOnly.Should().BeTrue();
        response.HeaderStatus.Should().Be(Code(RpcStatusCode.Unimplemented));
        response.Message.Should().Contain("/synthvlm.test.TestService/NoSuchMethod");
    }

    [Fact]
    public async Task Unknown_service_is_unimplemented_naming_it()
    {
        using var raw = new RawGrpcClient(fixture.Server.Address);
        var response = await raw.SendAsync("/no.such.Service/Call", RawGrpcClient.Frame(0, [])).WithTimeout();
        response.IsTrailersOnly.Should().BeTrue();
        response.HeaderStatus.Should().Be(Code(RpcStatusCode.Unimplemented));
        response.Message.Should().Contain("no.such.Service");
    }

    [Fact]
    public async Task Client_streaming_method_is_unimplemented()
    {
        using var raw = new RawGrpcClient(fixture.Server.Address);
        var response = await raw.SendAsync("/synthvlm.test.TestService/Upload", RawGrpcClient.Frame(0, [])).WithTimeout();
        response.HeaderStatus.Should().Be(Code(RpcStatusCode.Unimplemented));
    }

    [Fact]
    public async Task Non_grpc_content_type_is_http_415()
    {
        using var raw = new RawGrpcClient(fixture.Server.Address);
        var response = await raw.SendAsync(EchoPath, RawGrpcClient.Frame(0, EchoBytes("x")), contentType: "application/json").WithTimeout();
        response.HttpStatus.Should().Be(HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task Missing_te_trailers_is_rejected()
    {
        using var raw = new RawGrpcClient(fixture.Server.Address);
        var response = await raw.SendAsync(EchoPath, RawGrpcClient.Frame(0, EchoBytes("x")), te: false).WithTimeout();
        response.HeaderStatus.Should().Be(Code(RpcStatusCode.Internal));
        response.Message.Should().Contain("te");
    }

    [Fact]
    public async Task Server_enforces_grpc_timeout_itself()
    {
        var id = Guid.NewGuid().ToString();
        using var raw = new RawGrpcClient(fixture.Server.Address);
        var response = await raw.SendAsync(TestMethods.Path(TestMethods.Slow), RawGrpcClient.Frame(0, new SlowRequest { Id = id }.ToByteArray()),
            headers: ("grpc-timeout", "200m")).WithTimeout();
        response.Status.Should().Be(Code(RpcStatusCode.DeadlineExceeded));
        await fixture.Server.Observer.Cancelled(id).Task.WithTimeout();
    }

    [Theory]
    [InlineData("99999999H")]
    [InlineData("99999999n")]
    public async Task Extreme_grpc_timeouts_are_handled(string timeout)
    {
        using var raw = new RawGrpcClient(fixture.Server.Address);
        var response = await raw.SendAsync(EchoPath, RawGrpcClient.Frame(0, EchoBytes("t" + timeout)), headers: ("grpc-timeout", timeout)).WithTimeout();
        response.Status.Should().BeOneOf("0", Code(RpcStatusCode.DeadlineExceeded));
        if (timeout.EndsWith('H'))
        {
            response.Status.Should().Be("0");
            fixture.Server.Observer.Deadlines["t" + timeout].Should().Be(DateTime.MaxValue);
        }
    }

    [Fact]
    public async Task Invalid_grpc_timeout_is_rejected()
    {
        using var raw = new RawGrpcClient(fixture.Server.Address);
        var response = await raw.SendAsync(EchoPath, RawGrpcClient.Frame(0, EchoBytes("x")), headers: ("grpc-timeout", "123456789S")).WithTimeout();
        response.HeaderStatus.Should().Be(Code(RpcStatusCode.Internal));
    }

    [Fact]
    public async Task Error_message_is_percent_encoded_on_the_wire()
    {
        using var raw = new RawGrpcClient(fixture.Server.Address);
        var body = RawGrpcClient.Frame(0, new FailRequest { Code = 9, Detail = "ok ✓ 100%" }.ToByteArray());
        var response = await raw.SendAsync(TestMethods.Path(TestMethods.Fail), body).WithTimeout();
        response.Status.Should().Be("9");
        response.Message.Should().Be("ok %E2%9C%93 100%25");
        response.Headers.GetValues("x-blob-bin").Single().Should().Be("AAEC/w");
    }
}
