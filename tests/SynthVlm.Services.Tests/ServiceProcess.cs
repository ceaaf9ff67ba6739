using System.Diagnostics;
using System.Reflection;
using System.Text;
using SynthVlm.Testing;

namespace SynthVlm.Services.Tests;

/// <summary>A service started from its built assembly as a child process; always killed on dispose.</summary>
internal sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _gate = new();

    private ServiceProcess(Process process, int grpcPort, int httpPort)
    {
        _process = process;
        GrpcPort = grpcPort;
        HttpPort = httpPort;
    }

    public int GrpcPort { get; }

    public int HttpPort { get; }

    public Uri GrpcAddress => new($"http://127.0.0.1:{GrpcPort}");

    public Uri HttpAddress => new($"http://127.0.0.1:{HttpPort}");

    public string Output
    {
        get { lock (_gate) { return _output.ToString(); } }
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static string AssemblyPath(ServiceInfo service)
    {
        var configuration = typeof(ServiceProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        return Path.Combine(RepoPaths.Root, service.ProjectName, "bin", configuration, "net10.0", service.ProjectName + ".dll");
    }

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
                await process.WaitHealthyAsync(service);
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
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        info.ArgumentList.Add(AssemblyPath(service));
        info.Environment[KnownEnvironment.GrpcEndpointUrlEnv] = $"http://127.0.0.1:{grpcPort}";
        info.Environment[KnownEnvironment.HttpEndpointUrlEnv] = $"http://127.0.0.1:{httpPort}";
        info.Environment.Remove(KnownEnvironment.RedisConnectionStringEnv);
        info.Environment.Remove(KnownEnvironment.OtlpEndpoint);
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                info.Environment.Remove(key);
            }
            else
            {
                info.Environment[key] = value;
            }
        }
        var process = new Process { StartInfo = info };
        var result = new ServiceProcess(process, grpcPort, httpPort);
        process.OutputDataReceived += (_, e) => result.Append(e.Data);
        process.ErrorDataReceived += (_, e) => result.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return result;
    }

    private async Task WaitHealthyAsync(ServiceInfo service)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        // Both: /alive answering on the port and the service's own start line naming that port,
        // so an answer from some other process that took the port does not count.
        var started = $"serving gRPC on {GrpcAddress}";
        await TestTimeout.Until(async () =>
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{service.ProjectName} exited with {_process.ExitCode}:\n{Output}");
            }
            if (!Output.Contains(started, StringComparison.Ordinal))
            {
                return false;
            }
            try
            {
                using var response = await http.GetAsync(new Uri(HttpAddress, "/alive"));
                return response.IsSuccessStatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet, or too busy starting to answer within the request timeout.
                return false;
            }
        }, TimeSpan.FromSeconds(120), $"{service.ProjectName} /alive");
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await _process.WaitForExitAsync().WaitAsync(timeout);
        return _process.ExitCode;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_gate)
        {
            _output.AppendLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        _process.Dispose();
    }
}
