using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SynthVlm.Rpc.Health;
using SynthVlm.Testing;

namespace SynthVlm.Rpc.Tests;

/// <summary>A real Kestrel server with the test service and health on a free loopback port (HTTP/2 only).</summary>
public sealed class RpcTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RpcTestServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    public IServiceProvider Services => _app.Services;

    public CallObserver Observer => _app.Services.GetRequiredService<CallObserver>();

    public HealthStatusRegistry Health => _app.Services.GetRequiredService<HealthStatusRegistry>();

    public static async Task<RpcTestServer> StartAsync(Action<RpcServerOptions>? configure = null, X509Certificate2? certificate = null)
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, port, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            });
        });
        builder.Services.AddRpc(configure);
        builder.Services.AddRpcHealth();
        builder.Services.AddSingleton<CallObserver>();
        var app = builder.Build();
        app.MapRpcService<TestServiceImpl>();
        app.MapRpcService<TestWorkerService>();
        app.MapRpcHealth();
        app.MapRpcFallback();
        await app.StartAsync(TestTimeout.Token());
        var scheme = certificate is null ? "http" : "https";
        var host = certificate is null ? "127.0.0.1" : "localhost";
        return new RpcTestServer(app, new Uri($"{scheme}://{host}:{port}"));
    }

    public RpcChannel CreateChannel(RpcChannelOptions? options = null) => RpcChannel.ForAddress(Address, options);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(TestTimeout.Token());
        await _app.DisposeAsync();
    }
}

/// <summary>One server shared by the tests of a class.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private RpcTestServer? _server;
    private RpcChannel? _channel;

    public RpcTestServer Server => _server ?? throw new InvalidOperationException("Not started.");

    public RpcChannel Channel => _channel ?? throw new InvalidOperationException("Not started.");

    public async Task InitializeAsync()
    {
        _server = await RpcTestServer.StartAsync(o =>
        {
            o.MaxReceiveMessageSize = 8 * 1024 * 1024;
            o.MaxSendMessageSize = 8 * 1024 * 1024;
        });
        _channel = _server.CreateChannel(new RpcChannelOptions { MaxReceiveMessageSize = 8 * 1024 * 1024 });
    }

    public async Task DisposeAsync()
    {
        _channel?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
