using SynthVlm.Testing;

namespace SynthVlm.Services.Tests;

/// <summary>
/// A service started from its built assembly as a child process on free loopback ports (a
/// <see cref="ProjectProcess"/>); always killed on dispose.
/// </summary>
internal sealed class ServiceProcess : IAsyncDisposable
{
    private readonly ProjectProcess _process;

    private ServiceProcess(ProjectProcess process, int grpcPort, int httpPort)
    {
        _process = process;
        GrpcPort = grpcPort;
        HttpPort = httpPort;
    }

    public int GrpcPort { get; }

    public int HttpPort { get; }

    public Uri GrpcAddress => new($"http://127.0.0.1:{GrpcPort}");

    public Uri HttpAddress => new($"http://127.0.0.1:{HttpPort}");

    public string Output => _process.Output;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>
    /// Starts the service; with <paramref name="waitHealthy"/> waits until /alive answers and the
    /// service has logged that it serves on its own ports. A start that loses its port to another
    /// process ("cannot listen") is retried on fresh ports.
    /// </summary>
    public static async Task<ServiceProcess> StartAsync(ServiceInfo service, IDictionary<string, string?>? environment = null, bool waitHealthy = true)
    {
        for (var attempt = 1; ; attempt++)
        {
            var process = Launch(service, environment);
            if (!waitHealthy)
            {
                return process;
            }
            try
            {
                // Both: /alive answering on the port and the service's own start line naming that
                // port, so an answer from some other process that took the port does not count.
                await process._process.WaitReadyAsync($"serving gRPC on {process.GrpcAddress}", new Uri(process.HttpAddress, "/alive"), TimeSpan.FromSeconds(120));
                return process;
            }
            catch (InvalidOperationException) when (attempt < 3 && process.Output.Contains("cannot listen", StringComparison.Ordinal))
            {
                await process.DisposeAsync();
            }
        }
    }

    private static ServiceProcess Launch(ServiceInfo service, IDictionary<string, string?>? environment)
    {
        var grpcPort = FreePort.Next();
        var httpPort = FreePort.Next();
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            [KnownEnvironment.GrpcEndpointUrlEnv] = $"http://127.0.0.1:{grpcPort}",
            [KnownEnvironment.HttpEndpointUrlEnv] = $"http://127.0.0.1:{httpPort}",
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }
        return new ServiceProcess(ProjectProcess.Start(service.ProjectName, settings), grpcPort, httpPort);
    }

    public Task<int> WaitForExitAsync(TimeSpan timeout) => _process.WaitForExitAsync(timeout);

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
