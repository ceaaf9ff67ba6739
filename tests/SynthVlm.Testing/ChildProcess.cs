using System.Diagnostics;
using System.Text;

namespace SynthVlm.Testing;

/// <summary>The result of a finished child process.</summary>
/// <param name="ExitCode">Its exit code.</param>
/// <param name="StandardOutput">Everything it printed on stdout.</param>
/// <param name="StandardError">Everything it printed on stderr.</param>
public sealed record ChildProcessResult(int ExitCode, string StandardOutput, string StandardError)
{
    /// <summary>Stdout split into lines, without empty ones.</summary>
    public IReadOnlyList<string> Lines => StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

/// <summary>Runs a reference program (Python grpcio, redis-cli, ...) to completion with a hard timeout.</summary>
public static class ChildProcess
{
    /// <summary>Runs <paramref name="fileName"/>; kills it (and its children) if it outlives <paramref name="timeout"/>.</summary>
    public static Task<ChildProcessResult> RunAsync(string fileName, IEnumerable<string> arguments, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }
        return RunAsync(info, timeout);
    }

    /// <summary>
    /// Keeps a reference client on loopback: grpcio honours proxy variables, and a proxy in the
    /// environment would turn a loopback call into a connection failure.
    /// </summary>
    public static void BypassProxies(ProcessStartInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        info.Environment["no_proxy"] = "*";
        info.Environment.Remove("http_proxy");
        info.Environment.Remove("https_proxy");
        info.Environment.Remove("grpc_proxy");
        info.Environment.Remove("HTTP_PROXY");
        info.Environment.Remove("HTTPS_PROXY");
    }

    /// <summary>Runs a Python script with the reference interpreter (<see cref="RepoPaths.ReferencePython"/>).</summary>
    public static Task<ChildProcessResult> RunPythonAsync(string script, IEnumerable<string> arguments, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(RepoPaths.ReferencePython)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("-u");
        info.ArgumentList.Add(script);
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }
        BypassProxies(info);
        return RunAsync(info, timeout);
    }

    private static async Task<ChildProcessResult> RunAsync(ProcessStartInfo info, TimeSpan? timeout)
    {
        using var process = new Process { StartInfo = info };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (stdout) { stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout ?? TestTimeout.Default);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{info.FileName} {string.Join(' ', info.ArgumentList)} did not finish in time.\nstdout:\n{stdout}\nstderr:\n{stderr}");
        }
        return new ChildProcessResult(process.ExitCode, stdout.ToString(), stderr.ToString());
    }

}
