using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;

namespace SynthVlm.Testing;

/// <summary>
/// The built AppHost as a child process, its output captured: wait for lines, read the dashboard
/// login URL it prints, stop it with SIGINT as a terminal's Ctrl+C would, and never leave it behind.
/// </summary>
public sealed partial class AppHostProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private AppHostProcess(Process process) => _process = process;

    /// <summary>The AppHost's pid.</summary>
    public int Id => _process.Id;

    /// <summary>Whether it has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Its exit code (after it exited).</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Everything it printed so far (stdout and stderr).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The built AppHost.dll of the configuration the tests were built in.</summary>
    public static string Dll(Assembly testAssembly)
    {
        ArgumentNullException.ThrowIfNull(testAssembly);
        var configuration = testAssembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        return Path.Combine(RepoPaths.Root, "AppHost", "bin", configuration, "net10.0", "AppHost.dll");
    }

    /// <summary>Starts the AppHost with <paramref name="arguments"/>, without the Redis/OTLP settings of the test's environment.</summary>
    public static AppHostProcess Start(Assembly testAssembly, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Dll(testAssembly));
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        info.Environment.Remove(KnownEnvironment.RedisConnectionStringEnv);
        info.Environment.Remove(KnownEnvironment.OtlpEndpoint);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }
        var process = new Process { StartInfo = info };
        var host = new AppHostProcess(process);
        process.OutputDataReceived += (_, e) => host.Append(e.Data);
        process.ErrorDataReceived += (_, e) => host.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return host;
    }

    /// <summary>Waits until the output contains <paramref name="text"/> (fails if the AppHost exits first).</summary>
    public async Task WaitForAsync(string text, TimeSpan timeout)
    {
        await TestTimeout.Until(() => Output.Contains(text, StringComparison.Ordinal) || HasExited, timeout, $"the AppHost to print '{text}'").ConfigureAwait(false);
        if (!Output.Contains(text, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"the AppHost exited ({ExitCode}) before printing '{text}':\n{Output}");
        }
    }

    /// <summary>The dashboard login URL the AppHost printed.</summary>
    public Uri DashboardLogin => DashboardLine().Match(Output) is { Success: true } m
        ? new Uri(m.Groups["url"].Value)
        : throw new InvalidOperationException("the AppHost printed no dashboard URL:\n" + Output);

    /// <summary>The service pids of the replicas it reported healthy, by replica name (the latest of each).</summary>
    public IReadOnlyDictionary<string, int> HealthyPids() =>
        HealthyPid().Matches(Output).GroupBy(m => m.Groups["name"].Value)
            .ToDictionary(g => g.Key, g => int.Parse(g.Last().Groups["pid"].Value, CultureInfo.InvariantCulture));

    /// <summary>Waits until it has exited and all its output has been read.</summary>
    public async Task ExitedAsync(TimeSpan timeout) =>
        await _process.WaitForExitAsync().WaitAsync(timeout).ConfigureAwait(false);

    /// <summary>Ctrl+C: SIGINT to the AppHost only, then waits for it to exit.</summary>
    public async Task InterruptAsync(TimeSpan timeout)
    {
        var kill = await ChildProcess.RunAsync("kill", ["-INT", Id.ToString(CultureInfo.InvariantCulture)]).ConfigureAwait(false);
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -INT {Id} failed: {kill.StandardError}");
        }
        await _process.WaitForExitAsync().WaitAsync(timeout).ConfigureAwait(false);
    }

    /// <summary>
    /// Kills what is left — the AppHost, and DCP with everything it started (DCP runs in a session
    /// of its own, watching the AppHost's pid) — and releases the process.
    /// </summary>
    public ValueTask DisposeAsync()
    {
        int? pid = null;
        try
        {
            pid = _process.Id;
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // It was never started or already reaped.
        }
        if (pid is { } apphost)
        {
            ProcessTree.KillMatching(cmdline => cmdline.Contains($"--monitor {apphost} ", StringComparison.Ordinal) || cmdline.EndsWith($"--monitor {apphost}", StringComparison.Ordinal));
        }
        _process.Dispose();
        return ValueTask.CompletedTask;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    [GeneratedRegex(@"(Dashboard: |Login to the dashboard at )(?<url>http://\S+/login\?t=[0-9a-f]+)")]
    private static partial Regex DashboardLine();

    [GeneratedRegex(@"(?<name>[a-z]+-[a-z0-9]+): Healthy \(pid (?<pid>\d+)\)")]
    private static partial Regex HealthyPid();
}
