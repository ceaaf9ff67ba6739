using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace SynthVlm.Testing;

/// <summary>
/// A built project of this repository (a service, the web front end) started as
/// <c>dotnet X.dll</c> with the given environment; its output is kept for failure messages and
/// it is always killed (with its children) on dispose.
/// </summary>
public sealed class ProjectProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _gate = new();

    private ProjectProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    /// <summary>The project's name (its folder and assembly).</summary>
    public string Name { get; }

    /// <summary>Everything it printed so far (stdout and stderr).</summary>
    public string Output
    {
        get { lock (_gate) { return _output.ToString(); } }
    }

    /// <summary>Whether it has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Its exit code (once exited).</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>The built assembly of <paramref name="project"/> (a top-level folder), in the configuration the tests were built in.</summary>
    public static string AssemblyPath(string project)
    {
        var configuration = typeof(ProjectProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        return Path.Combine(RepoPaths.Root, project, "bin", configuration, "net10.0", project + ".dll");
    }

    /// <summary>
    /// Starts <paramref name="project"/>. Redis, OTLP and service-discovery settings of the test
    /// runner's own environment are removed first, so only <paramref name="environment"/> counts
    /// (a null value removes a variable).
    /// </summary>
    public static ProjectProcess Start(string project, IReadOnlyDictionary<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        info.ArgumentList.Add(AssemblyPath(project));
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("services__", StringComparison.Ordinal) || k.StartsWith("ConnectionStrings__", StringComparison.Ordinal) || k.StartsWith("OTEL_", StringComparison.Ordinal) || k.StartsWith("SynthVlm__", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }
        foreach (var (key, value) in environment)
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
        var result = new ProjectProcess(process, project);
        process.OutputDataReceived += (_, e) => result.Append(e.Data);
        process.ErrorDataReceived += (_, e) => result.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return result;
    }

    /// <summary>
    /// Waits until the output holds <paramref name="line"/> and <paramref name="alive"/> answers 2xx,
    /// so an answer from another process that took the port does not count.
    /// </summary>
    /// <exception cref="InvalidOperationException">The process exited first (the message has its output).</exception>
    public async Task WaitReadyAsync(string line, Uri alive, TimeSpan timeout)
    {
        using var http = new HttpClient(new HttpClientHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(2) };
        await TestTimeout.Until(async () =>
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode}:\n{Output}");
            }
            if (!Output.Contains(line, StringComparison.Ordinal))
            {
                return false;
            }
            try
            {
                using var response = await http.GetAsync(alive);
                return response.IsSuccessStatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet, or too busy starting to answer in time.
                return false;
            }
        }, timeout, $"{Name} to log '{line}' and answer {alive}");
    }

    /// <summary>Waits for the process to exit on its own.</summary>
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

    /// <inheritdoc />
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
