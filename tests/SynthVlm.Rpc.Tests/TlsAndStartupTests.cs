using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FluentAssertions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SynthVlm.Rpc.Health;
using SynthVlm.Rpc.Tests.Protos;
using SynthVlm.Testing;

namespace SynthVlm.Rpc.Tests;

public sealed class TlsAndStartupTests
{
    [Fact]
    public async Task Call_over_tls_with_alpn_h2_succeeds_when_the_client_trusts_the_certificate()
    {
        using var certificate = CreateSelfSigned();
        await using var server = await RpcTestServer.StartAsync(certificate: certificate);
        var validated = 0;
        using var channel = server.CreateChannel(new RpcChannelOptions
        {
            ServerCertificateValidation = (_, cert, _, _) =>
            {
                Interlocked.Increment(ref validated);
                return cert is not null && cert.GetCertHashString() == certificate.GetCertHashString();
            },
        });
        var response = await channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Echo, new EchoRequest { Message = "tls" }).WithTimeout();
        response.Message.Should().Be("tls");
        validated.Should().BeGreaterThan(0);

        using var call = channel.ServerStreaming<StreamRequest, EchoResponse>(TestMethods.Stream, new StreamRequest { Count = 3, Message = "t" });
        var messages = new List<string>();
        await foreach (var message in call.ReadAllAsync(TestTimeout.Token()))
        {
            messages.Add(message.Message);
        }
        messages.Should().Equal("t0", "t1", "t2");
    }

    [Fact]
    public async Task Call_over_tls_fails_unavailable_when_the_certificate_is_untrusted()
    {
        using var certificate = CreateSelfSigned();
        await using var server = await RpcTestServer.StartAsync(certificate: certificate);
        using var channel = server.CreateChannel(new RpcChannelOptions { ServerCertificateValidation = (_, _, _, _) => false });
        var act = () => channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Echo, new EchoRequest()).WithTimeout();
        (await act.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(RpcStatusCode.Unavailable);
    }

    [Fact]
    public void Handler_with_wrong_types_fails_at_map_time_naming_the_method()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddRpc();
        using var app = builder.Build();
        var act = () => app.MapRpcService<MismatchServiceImpl>();
        act.Should().Throw<InvalidOperationException>()
            .Which.Message.Should().Contain("/synthvlm.test.MismatchService/Echo")
            .And.Contain("Task<EchoResponse> Echo(EchoRequest, ServerCallContext)")
            .And.Contain("StreamRequest");
    }

    [Fact]
    public void Mapping_a_service_twice_fails_at_map_time()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddRpcHealth();
        using var app = builder.Build();
        app.MapRpcHealth();
        var act = () => app.MapRpcHealth();
        act.Should().Throw<InvalidOperationException>().Which.Message.Should().Contain("grpc.health.v1.Health");
    }

    [Fact]
    public void Mapping_without_AddRpc_explains_what_is_missing()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        using var app = builder.Build();
        var act = () => app.MapRpcService<TestServiceImpl>();
        act.Should().Throw<InvalidOperationException>().Which.Message.Should().Contain("AddRpc");
    }

    [Fact]
    public async Task Client_rejects_a_descriptor_whose_types_do_not_match()
    {
        using var channel = RpcChannel.ForAddress(new Uri("http://127.0.0.1:1"));
        var act = () => channel.UnaryAsync<StreamRequest, EchoResponse>(TestMethods.Echo, new StreamRequest()).WithTimeout();
        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("EchoRequest");
    }

    [Fact]
    public async Task Client_and_server_activities_share_one_trace_with_rpc_tags()
    {
        var stopped = new System.Collections.Concurrent.ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is RpcTelemetry.Name or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Add,
        };
        ActivitySource.AddActivityListener(listener);
        await using var server = await RpcTestServer.StartAsync();
        using var channel = server.CreateChannel();
        var id = Guid.NewGuid().ToString();

        await channel.UnaryAsync<EchoRequest, EchoResponse>(TestMethods.Echo, new EchoRequest { Message = id }).WithTimeout();

        var client = stopped.Single(a => a.Source.Name == RpcTelemetry.Name && a.Kind == ActivityKind.Client && a.TraceId == server.Observer.TraceIds[id]);
        client.GetTagItem(RpcTelemetry.RpcSystemTag).Should().Be("grpc");
        client.GetTagItem(RpcTelemetry.RpcServiceTag).Should().Be("synthvlm.test.TestService");
        client.GetTagItem(RpcTelemetry.RpcMethodTag).Should().Be("Echo");
        client.GetTagItem(RpcTelemetry.StatusCodeTag).Should().Be(0);
        await TestTimeout.Until(() => stopped.Any(a => a.Source.Name == "Microsoft.AspNetCore" && a.TraceId == client.TraceId), what: "server activity");
        var serverActivity = stopped.Single(a => a.Source.Name == "Microsoft.AspNetCore" && a.TraceId == client.TraceId);
        serverActivity.GetTagItem(RpcTelemetry.RpcMethodTag).Should().Be("Echo");
        serverActivity.GetTagItem(RpcTelemetry.StatusCodeTag).Should().Be(0);
    }

    internal static X509Certificate2 CreateSelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        // Round-trip through PKCS#12 so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }
}
