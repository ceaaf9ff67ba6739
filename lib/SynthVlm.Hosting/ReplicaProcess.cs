using System.Diagnostics;

namespace SynthVlm.Hosting;

/// <summary>The lifecycle states a replica goes through.</summary>
public enum ReplicaState
{
    /// <summary>Not started yet.</summary>
    NotStarted,
    /// <summary>Process launched, not yet healthy.</summary>
    Starting,
    /// <summary>Answering its health check.</summary>
    Healthy,
    /// <summary>Running but its health check fails.</summary>
    Unhealthy,
    /// <summary>Exited unexpectedly; waiting to restart.</summary>
    Restarting,
    /// <summary>Could not be launched at all.</summary>
    FailedToStart,
    /// <summary>Being stopped by the cluster.</summary>
    Stopping,
    /// <summary>Stopped by the cluster.</summary>
    Stopped,
}

/// <summary>What a replica runs: the program, its arguments, environment and endpoints.</summary>
/// <param name="FileName">The executable.</param>
/// <param name="Arguments">Its arguments.</param>
/// <param name="Environment">Environment variables set for it (added to the inherited ones).</param>
/// <param name="Endpoints">Named URLs it serves (e.g. grpc, http).</param>
public sealed record ReplicaLaunch(string FileName, IReadOnlyList<string> Arguments, IReadOnlyDictionary<string, string> Environment, IReadOnlyDictionary<string, Uri> Endpoints);

/// <summary>
/// One supervised child process: launches it, forwards its output, keeps its last lines for
/// failure reports, restarts it with exponential backoff when it exits unexpectedly, and
/// stops it with SIGTERM then SIGKILL.
/// </summary>
public sealed class ReplicaProcess : IAsyncDisposable
{
    private const int KeptLines = 40;
    private const string SetsidPath = "/usr/bin/setsid";
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StableAfter = TimeSpan.FromSeconds(30);

    private readonly IClusterOutput _output;
    private readonly Queue<string> _lastLines = new();
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private Task? _supervision;
    private ReplicaState _state = ReplicaState.NotStarted;
    private int? _pid;

    /// <summary>Creates the supervisor; nothing starts until <see cref="Start"/>.</summary>
    public ReplicaProcess(string name, ClusterResource resource, ReplicaLaunch launch, IClusterOutput output)
    {
        Name = name;
        Resource = resource;
        Launch = launch;
        _output = output;
    }

    /// <summary>The replica's name, e.g. "scoring-1".</summary>
    public string Name { get; }

    /// <summary>The resource it belongs to.</summary>
    public ClusterResource Resource { get; }

    /// <summary>What it runs.</summary>
    public ReplicaLaunch Launch { get; }

    /// <summary>The current process id, or null when not running.</summary>
    public int? Pid
    {
        get { lock (_gate) { return _pid; } }
        private set { lock (_gate) { _pid = value; } }
    }

    /// <summary>Every process id this replica has had (for orphan checks).</summary>
    public IList<int> AllPids { get; } = [];

    /// <summary>How many times it was restarted after an unexpected exit.</summary>
    public int Restarts { get; private set; }

    /// <summary>The exit code of the last exit, if any.</summary>
    public int? LastExitCode { get; private set; }

    /// <summary>The current state.</summary>
    public ReplicaState State
    {
        get { lock (_gate) { return _state; } }
        private set
        {
            lock (_gate)
            {
                if (_state == value)
                {
                    return;
                }
                _state = value;
            }
            _output.StateChanged(this, value);
        }
    }

    /// <summary>The last lines it printed (stdout and stderr), oldest first.</summary>
    public IReadOnlyList<string> LastLines
    {
        get { lock (_gate) { return [.. _lastLines]; } }
    }

    /// <summary>Launches the process and keeps it running until <see cref="StopAsync"/>.</summary>
    public void Start()
    {
        if (_supervision is not null)
        {
            throw new InvalidOperationException($"{Name} was already started.");
        }
        _supervision = Task.Run(SuperviseAsync);
    }

    /// <summary>Reports the result of a health probe (the cluster probes; the replica records).</summary>
    public void ReportHealth(bool healthy)
    {
        if (State is ReplicaState.Starting or ReplicaState.Healthy or ReplicaState.Unhealthy)
        {
            State = healthy ? ReplicaState.Healthy : (State == ReplicaState.Starting ? ReplicaState.Starting : ReplicaState.Unhealthy);
        }
    }

    /// <summary>Stops the process: SIGTERM, then SIGKILL after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        State = ReplicaState.Stopping;
        // The supervision loop owns the Process object (it disposes it after each exit), so
        // stopping works on the pid and waits for the loop, never on a Process that may be gone.
        if (_supervision is not null)
        {
            if (Pid is { } pid)
            {
                Native.Signal(pid, Native.SigTerm);
            }
            if (await Task.WhenAny(_supervision, Task.Delay(grace)).ConfigureAwait(false) != _supervision)
            {
                _output.Diagnostic(this, $"did not stop within {grace.TotalSeconds:0.#} s; killing");
                if (Pid is { } stubborn)
                {
                    KillTree(stubborn);
                }
            }
            await _supervision.ConfigureAwait(false);
        }
        State = ReplicaState.Stopped;
    }

    private static void KillTree(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }

    private async Task SuperviseAsync()
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (!_stopping.IsCancellationRequested)
        {
            var startedAt = DateTime.UtcNow;
            State = ReplicaState.Starting;
            Process process;
            try
            {
                if (ResolveExecutable(Launch.FileName) is null)
                {
                    throw new FileNotFoundException("no such executable (checked the path and PATH)");
                }
                process = Launch_();
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
            {
                _output.Diagnostic(this, $"cannot start '{Launch.FileName}': {e.Message}");
                State = ReplicaState.FailedToStart;
                return;
            }
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            // WaitForExitAsync returns after the output streams are drained.
            LastExitCode = process.ExitCode;
            Pid = null;
            process.Dispose();
            if (_stopping.IsCancellationRequested)
            {
                return;
            }
            if (DateTime.UtcNow - startedAt > StableAfter)
            {
                backoff = TimeSpan.FromSeconds(1);
            }
            _output.Crashed(this, LastExitCode.Value, LastLines, backoff);
            State = ReplicaState.Restarting;
            try
            {
                await Task.Delay(backoff, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            Restarts++;
        }
    }

    private Process Launch_()
    {
        // In a session of its own, a replica does not receive the terminal's Ctrl+C: the cluster
        // stops replicas itself, services before Redis, so they can drain while Redis is still up.
        // setsid execs in place (the child is not a group leader), so the pid stays the replica's.
        var detach = File.Exists(SetsidPath);
        var info = new ProcessStartInfo(detach ? SetsidPath : Launch.FileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (detach)
        {
            info.ArgumentList.Add(Launch.FileName);
        }
        foreach (var arg in Launch.Arguments)
        {
            info.ArgumentList.Add(arg);
        }
        foreach (var (key, value) in Launch.Environment)
        {
            info.Environment[key] = value;
        }
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => OnLine(e.Data, isError: false);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data, isError: true);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Pid = process.Id;
        lock (_gate)
        {
            AllPids.Add(process.Id);
        }
        _output.Started(this, process.Id);
        return process;
    }

    private void OnLine(string? line, bool isError)
    {
        if (line is null)
        {
            return;
        }
        lock (_gate)
        {
            if (_lastLines.Count == KeptLines)
            {
                _lastLines.Dequeue();
            }
            _lastLines.Enqueue(line);
        }
        _output.Line(this, line, isError);
    }

    private static string? ResolveExecutable(string fileName)
    {
        if (fileName.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(fileName) ? fileName : null;
        }
        return (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, fileName))
            .FirstOrDefault(File.Exists);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (State is not ReplicaState.Stopped and not ReplicaState.NotStarted)
        {
            await StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        _stopping.Dispose();
    }
}
