using System.Diagnostics;
using System.Globalization;

namespace SynthVlm.Bench.Cluster;

/// <summary>A child process whose output lines are kept with the time since it was started.</summary>
internal sealed class TimedProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<(TimeSpan At, string Line)> _lines = [];
    private readonly Stopwatch _clock = new();

    private TimedProcess(Process process) => _process = process;

    public int Pid => _process.Id;

    /// <summary>Start time in /proc's ticks since boot, so a later check cannot mistake a reused pid for it.</summary>
    public long StartTime { get; private set; }

    public bool HasExited => _process.HasExited;

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>Starts <paramref name="fileName"/>; the clock starts just before the fork.</summary>
    public static TimedProcess Start(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?> environment, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory ?? Path.GetTempPath() };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        // The benchmark's own environment must not leak a Redis or collector into what it starts.
        info.Environment.Remove(KnownEnvironment.RedisConnectionStringEnv);
        info.Environment.Remove(KnownEnvironment.OtlpEndpoint);
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
        var timed = new TimedProcess(process);
        process.OutputDataReceived += (_, e) => timed.Append(e.Data);
        process.ErrorDataReceived += (_, e) => timed.Append(e.Data);
        timed._clock.Start();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        timed.StartTime = ProcStat.Read(process.Id)?.StartTime ?? 0;
        return timed;
    }

    /// <summary>The first line matching, with when it was printed.</summary>
    public (TimeSpan At, string Line)? Find(Func<string, bool> match)
    {
        lock (_lines)
        {
            foreach (var l in _lines)
            {
                if (match(l.Line))
                {
                    return l;
                }
            }
        }
        return null;
    }

    /// <summary>All lines so far, with their times.</summary>
    public List<(TimeSpan At, string Line)> Lines()
    {
        lock (_lines)
        {
            return [.. _lines];
        }
    }

    /// <summary>The last <paramref name="count"/> lines, for error messages.</summary>
    public string Tail(int count = 40)
    {
        lock (_lines)
        {
            return string.Join('\n', _lines.Skip(Math.Max(0, _lines.Count - count)).Select(l => l.Line));
        }
    }

    /// <summary>Waits until a line matches; null when the process exits first or <paramref name="timeout"/> passes.</summary>
    public async Task<(TimeSpan At, string Line)?> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (Find(match) is { } found)
            {
                return found;
            }
            if (_process.HasExited)
            {
                // Let the output readers drain.
                await Task.Delay(200);
                return Find(match);
            }
            await Task.Delay(20);
        }
        return null;
    }

    /// <summary>SIGINT (a terminal's Ctrl+C) and wait; true when it exited within <paramref name="timeout"/>.</summary>
    public async Task<bool> InterruptAsync(TimeSpan timeout)
    {
        if (_process.HasExited)
        {
            return true;
        }
        using (var kill = Process.Start("kill", ["-INT", Pid.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>SIGKILL to the process and its descendants, if it still runs.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already reaped.
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        var at = _clock.Elapsed;
        lock (_lines)
        {
            _lines.Add((at, line));
        }
    }
}
