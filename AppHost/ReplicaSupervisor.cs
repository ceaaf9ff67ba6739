using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SynthVlm.AppHost;

/// <summary>Where the supervisor writes and how it restarts.</summary>
internal sealed class ReplicaSupervisorOptions
{
    /// <summary>The folder each replica's output goes to ({replica}.log).</summary>
    public required string LogDirectory { get; init; }

    /// <summary>Restarts of a replica that never became healthy before it is left stopped.</summary>
    public int FailFastRestarts { get; init; } = ReplicaSupervisor.FailFastRestarts;

    /// <summary>Whether every state change is reported (the cluster verb) or only crashes (the run verb).</summary>
    public bool ReportStates { get; init; } = true;
}

/// <summary>
/// Watches every replica of the app model: writes its output to {logs}/{replica}.log, reports
/// state changes, and starts a replica again through the app model's start command when it exits
/// with a non-zero code (DCP does not restart executables by itself), with backoff from 1 s to
/// 30 s. A replica that crashes <see cref="FailFastRestarts"/> times without ever becoming healthy
/// is left stopped and reported with its last lines. A replica stopped from the dashboard (exit 0)
/// stays stopped.
/// </summary>
internal sealed partial class ReplicaSupervisor(
    ResourceNotificationService notifications,
    ResourceCommandService commands,
    ResourceLoggerService resourceLogs,
    IHostApplicationLifetime lifetime,
    ReplicaSupervisorOptions options,
    ILogger<ReplicaSupervisor> logger) : BackgroundService
{
    /// <summary>Crashes without becoming healthy after which a replica is left stopped.</summary>
    public const int FailFastRestarts = 3;

    private const int LastLinesKept = 40;
    private const int CrashLinesShown = 12;
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StableAfter = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<string, Replica> _replicas = new(StringComparer.Ordinal);

    /// <summary>Every replica seen so far, by its instance name.</summary>
    public IReadOnlyDictionary<string, Replica> Replicas => _replicas;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Directory.CreateDirectory(options.LogDirectory);
        try
        {
            await foreach (var update in notifications.WatchAsync(stoppingToken).ConfigureAwait(false))
            {
                if (update.Resource is not (ProjectResource or RedisServerResource))
                {
                    continue;
                }
                var replica = _replicas.GetOrAdd(update.ResourceId, id =>
                {
                    var created = new Replica(id, update.Resource.Name, Path.Combine(options.LogDirectory, id + ".log"));
                    _ = FollowLogsAsync(created, stoppingToken);
                    return created;
                });
                Observe(replica, update.Snapshot, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The AppHost is stopping.
        }
    }

    private void Observe(Replica replica, CustomResourceSnapshot snapshot, CancellationToken stoppingToken)
    {
        var state = snapshot.State?.Text ?? string.Empty;
        var healthy = snapshot.HealthStatus == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy && state == KnownResourceStates.Running;
        var shown = healthy ? "Healthy" : state;
        lock (replica)
        {
            if (snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value is int pid)
            {
                replica.Pid = ServiceProcess(pid);
            }
            if (shown == replica.State)
            {
                return;
            }
            replica.State = shown;
            if (healthy)
            {
                replica.EverHealthy = true;
            }
            if (state == KnownResourceStates.Running && replica.StartedAt is null)
            {
                replica.StartedAt = DateTime.UtcNow;
            }
        }
        replica.Append($"---- state: {shown} ----");
        if (options.ReportStates && shown is "Healthy" or "Unhealthy" or "Exited" or "Finished" or "FailedToStart")
        {
            LogState(logger, replica.Name, shown, replica.Pid?.ToString(CultureInfo.InvariantCulture) ?? "-");
        }
        var exited = state == KnownResourceStates.Exited || state == KnownResourceStates.Finished || state == KnownResourceStates.FailedToStart;
        if (!exited || lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return;
        }
        var exitCode = snapshot.ExitCode;
        if (exitCode == 0)
        {
            // Stopped on purpose (the dashboard's stop command, or the service ended its own work).
            return;
        }
        TimeSpan delay;
        lock (replica)
        {
            if (replica.Restarting)
            {
                return;
            }
            if (!replica.EverHealthy && replica.Restarts >= options.FailFastRestarts)
            {
                replica.GaveUp = true;
            }
            else
            {
                replica.Restarting = true;
            }
            var ranFor = replica.StartedAt is { } started ? DateTime.UtcNow - started : TimeSpan.Zero;
            replica.Backoff = ranFor > StableAfter || replica.Backoff == TimeSpan.Zero
                ? FirstBackoff
                : TimeSpan.FromTicks(Math.Min(replica.Backoff.Ticks * 2, MaxBackoff.Ticks));
            delay = replica.Backoff;
        }
        var code = exitCode?.ToString(CultureInfo.InvariantCulture) ?? "unknown";
        var lastLines = string.Join(Environment.NewLine + "  ", replica.LastLines().TakeLast(CrashLinesShown));
        if (replica.GaveUp)
        {
            LogGaveUp(logger, replica.Name, code, replica.Restarts, replica.LogPath, lastLines);
            return;
        }
        LogCrashed(logger, replica.Name, code, delay.TotalSeconds, replica.LogPath, lastLines);
        _ = RestartAsync(replica, delay, stoppingToken);
    }

    private async Task RestartAsync(Replica replica, TimeSpan delay, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(delay, stoppingToken).ConfigureAwait(false);
            lock (replica)
            {
                replica.Restarts++;
                replica.StartedAt = null;
            }
            var result = await commands.ExecuteCommandAsync(replica.Name, KnownResourceCommands.StartCommand, stoppingToken).ConfigureAwait(false);
            if (!result.Success)
            {
                result = await commands.ExecuteCommandAsync(replica.Name, KnownResourceCommands.RestartCommand, stoppingToken).ConfigureAwait(false);
            }
            if (!result.Success)
            {
                LogRestartFailed(logger, replica.Name, result.Message ?? "no reason given");
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: nothing to restart.
        }
        finally
        {
            lock (replica)
            {
                replica.Restarting = false;
            }
        }
    }

    private async Task FollowLogsAsync(Replica replica, CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var batch in resourceLogs.WatchAsync(replica.Name).WithCancellation(stoppingToken).ConfigureAwait(false))
            {
                foreach (var line in batch)
                {
                    replica.Append(line.Content);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The AppHost is stopping.
        }
        finally
        {
            replica.CloseLog();
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Replica}: {State} (pid {Pid})")]
    private static partial void LogState(ILogger logger, string replica, string state, string pid);

    /// <summary>
    /// The service's own process: DCP starts a project replica as `dotnet run --no-build`, which runs
    /// the service as its only child; the pid users want (to kill, to profile) is the child's.
    /// </summary>
    private static int ServiceProcess(int launched)
    {
        try
        {
            var children = File.ReadAllText($"/proc/{launched}/task/{launched}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return children.Length == 1 && int.TryParse(children[0], NumberStyles.None, CultureInfo.InvariantCulture, out var child) ? child : launched;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not Linux, or already gone.
            return launched;
        }
    }

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "{Replica} exited with code {ExitCode}; restarting in {Seconds:0} s. Last lines (all of them in {LogPath}):\n  {LastLines}")]
    private static partial void LogCrashed(ILogger logger, string replica, string exitCode, double seconds, string logPath, string lastLines);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "{Replica} exited with code {ExitCode} after {Restarts} restarts without ever becoming healthy; it stays stopped (start it from the dashboard once fixed). Last lines (all of them in {LogPath}):\n  {LastLines}")]
    private static partial void LogGaveUp(ILogger logger, string replica, string exitCode, int restarts, string logPath, string lastLines);

    [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "{Replica} could not be started again: {Reason}")]
    private static partial void LogRestartFailed(ILogger logger, string replica, string reason);

    // Services colour their console output for the dashboard; files and crash reports get plain text.
    [System.Text.RegularExpressions.GeneratedRegex(@"\x1B\[[0-9;]*[A-Za-z]")]
    private static partial System.Text.RegularExpressions.Regex AnsiEscapes();

    /// <summary>One replica as the supervisor tracks it.</summary>
    internal sealed class Replica(string name, string resource, string logPath)
    {
        private readonly Queue<string> _lastLines = new();
        private StreamWriter? _log;
        private bool _closed;

        /// <summary>The instance name (the dashboard's name for it).</summary>
        public string Name { get; } = name;

        /// <summary>The resource it is a replica of.</summary>
        public string Resource { get; } = resource;

        /// <summary>Its log file.</summary>
        public string LogPath { get; } = logPath;

        /// <summary>Healthy, Running, Starting, Exited, …</summary>
        public string State { get; set; } = string.Empty;

        /// <summary>Its process id, when the snapshot says.</summary>
        public int? Pid { get; set; }

        /// <summary>Times it was started again after a crash.</summary>
        public int Restarts { get; set; }

        public bool EverHealthy { get; set; }

        public bool Restarting { get; set; }

        public bool GaveUp { get; set; }

        public DateTime? StartedAt { get; set; }

        public TimeSpan Backoff { get; set; }

        /// <summary>Its last lines of output.</summary>
        public IReadOnlyList<string> LastLines()
        {
            lock (_lastLines)
            {
                return [.. _lastLines];
            }
        }

        /// <summary>Keeps a line (without terminal colours) and writes it to the log file.</summary>
        public void Append(string line)
        {
            line = AnsiEscapes().Replace(line, string.Empty);
            lock (_lastLines)
            {
                _lastLines.Enqueue(line);
                while (_lastLines.Count > LastLinesKept)
                {
                    _lastLines.Dequeue();
                }
                if (_closed)
                {
                    return;
                }
                try
                {
                    _log ??= new StreamWriter(LogPath, append: true, new UTF8Encoding(false)) { AutoFlush = true };
                    _log.WriteLine(line);
                }
                catch (IOException)
                {
                    // A full disk must not stop supervision; the lines stay in memory.
                }
            }
        }

        public void CloseLog()
        {
            lock (_lastLines)
            {
                _closed = true;
                _log?.Dispose();
                _log = null;
            }
        }
    }
}
