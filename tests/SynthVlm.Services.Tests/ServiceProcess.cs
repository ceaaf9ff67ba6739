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

    /// <summary>Starts the service; with <paramref name="waitHealthy"/> waits until /alive answers.</summary>
    public static async Task<ServiceProcess> StartAsync(ServiceInfo service, IDictionary<string, string?>? environment = null, bool waitHealthy = true)
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
        if (waitHealthy)
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            await TestTimeout.Until(async () =>
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"{service.ProjectName} exited with {process.ExitCode}:\n{result.Output}");
                }
                try
                {
                    using var response = await http.GetAsync(new Uri(result.HttpAddress, "/alive"));
                    return response.IsSuccessStatusCode;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    // Not listening yet, or too busy starting to answer within the request timeout.
                    return false;
                }
            }, TimeSpan.FromSeconds(120), $"{service.ProjectName} /alive");
        }
        return result;
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
