using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using SynthVlm.Testing;

namespace SynthVlm.Rpc.Tests;

/// <summary>A reference-Python child process whose output lines are readable asynchronously; always killed on dispose.</summary>
public sealed class PythonProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _stderr = new();

    private PythonProcess(Process process)
    {
        _process = process;
    }

    public static string Script(string name) => Path.Combine(AppContext.BaseDirectory, "interop", name);

    public static PythonProcess Start(string script, params string[] args)
    {
        var info = new ProcessStartInfo(RepoPaths.ReferencePython)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(script)!,
        };
        info.ArgumentList.Add("-u");
        info.ArgumentList.Add(script);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        ChildProcess.BypassProxies(info);
        var process = new Process { StartInfo = info };
        var result = new PythonProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                result._lines.Writer.TryComplete();
            }
            else
            {
                result._lines.Writer.TryWrite(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (result._stderr)
                {
                    result._stderr.AppendLine(e.Data);
                }
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return result;
    }

    public string StandardError
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>The next stdout line, or null at the end of output.</summary>
    public async Task<string?> ReadLineAsync(TimeSpan? timeout = null)
    {
        try
        {
            return await _lines.Reader.ReadAsync(TestTimeout.Token(timeout));
        }
        catch (ChannelClosedException)
        {
            return null;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"No output from Python in time. stderr:\n{StandardError}");
        }
    }

    /// <summary>All remaining stdout lines once the process exits.</summary>
    public async Task<List<string>> ReadToEndAsync(TimeSpan? timeout = null)
    {
        var lines = new List<string>();
        while (await ReadLineAsync(timeout) is { } line)
        {
            lines.Add(line);
        }
        await _process.WaitForExitAsync(TestTimeout.Token(timeout));
        if (_process.ExitCode != 0)
        {
            throw new InvalidOperationException($"Python exited with {_process.ExitCode}. stderr:\n{StandardError}");
        }
        return lines;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync(TestTimeout.Token());
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }
        _process.Dispose();
    }
}
