using System.Globalization;
using System.Text;
using SynthVlm.Hosting;

namespace SynthVlm.AppHost;

/// <summary>
/// The cluster's terminal: supervisor messages, and service output either echoed with a
/// prefix per replica (the default verb) or written to {logs}/{replica}.log (the run verb, whose
/// screen belongs to the progress display). A block of lines can be kept at the bottom and
/// redrawn in place, with messages printed above it.
/// </summary>
internal sealed class ClusterConsole : IClusterOutput, IDisposable
{
    private const int CrashLinesShown = 12;
    private const string CursorUp = "\e[{0}A";
    private const string ClearToEnd = "\e[J";

    private static readonly ConsoleColor[] Palette =
        [ConsoleColor.Cyan, ConsoleColor.Green, ConsoleColor.Magenta, ConsoleColor.Yellow, ConsoleColor.Blue, ConsoleColor.DarkCyan, ConsoleColor.DarkGreen, ConsoleColor.DarkMagenta];

    private readonly Lock _console = new();
    private readonly Dictionary<string, ConsoleColor> _colors = [];
    private readonly Dictionary<string, StreamWriter> _logs = [];
    private readonly string? _logDirectory;
    private IReadOnlyList<string> _frame = [];
    private bool _closed;

    /// <summary>Creates the console.</summary>
    /// <param name="logDirectory">Null to echo service output; otherwise the folder its per-replica log files go to.</param>
    public ClusterConsole(string? logDirectory)
    {
        _logDirectory = logDirectory;
        if (logDirectory is not null)
        {
            Directory.CreateDirectory(logDirectory);
        }
    }

    /// <summary>Whether the screen can be redrawn in place (a terminal, not a file, pipe or dumb terminal).</summary>
    public static bool IsInteractive { get; } =
        !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("TERM") is not (null or "" or "dumb");

    /// <summary>The default verb: start the cluster, publish it in apphost.json, run until Ctrl+C, stop.</summary>
    public static async Task<int> RunAsync(AppHostSettings settings)
    {
        using var output = new ClusterConsole(logDirectory: null);
        using var stop = new CancellationTokenSource();
        // Ctrl+C and SIGTERM both drain: services stop first, Redis last.
        using var signals = new StopSignals(stop.Cancel);

        // Before the services: they export their telemetry to it from their first line on.
        await using var dashboard = settings.Dashboard ? await DashboardHost.StartAsync(settings, output, stop.Token).ConfigureAwait(false) : null;
        if (settings.Dashboard && dashboard is null)
        {
            return 2;
        }
        var plan = LocalCluster.Plan(settings, dashboard);
        await using var cluster = plan.Builder.Build(output);
        dashboard?.Attach(cluster, plan);
        var start = await output.StartAsync(plan, cluster, stop.Token).ConfigureAwait(false);
        if (start.ExitCode is { } failed)
        {
            return failed;
        }
        dashboard?.Attach(cluster, plan);

        output.PrintTable(cluster);
        output.Info(start.Unhealthy.Count == 0
            ? $"All {cluster.Replicas.Count} resources healthy. Press Ctrl+C to stop."
            : $"Running with unhealthy resources: {string.Join(", ", start.Unhealthy)}. Press Ctrl+C to stop.");

        // Published only while the front door answers, so `run` never submits into a cluster that cannot take it.
        var published = !start.Unhealthy.Contains(plan.Curation.Name)
            && RunningCluster.TryPublish(settings.DataDirectory, cluster.EndpointsOf(plan.Curation)[0].Grpc, output);
        try
        {
            if (!settings.ExitWhenHealthy)
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // Ctrl+C
                }
            }
        }
        finally
        {
            if (published)
            {
                RunningCluster.Unpublish(settings.DataDirectory);
            }
        }
        await output.StopAsync(cluster).ConfigureAwait(false);
        return start.Unhealthy.Count == 0 ? 0 : 1;
    }

    /// <summary>Starts every resource, reporting as it goes.</summary>
    /// <returns>The unhealthy resources, or the exit code when the cluster could not start (or start was interrupted; it is stopped then).</returns>
    public async Task<(IReadOnlyList<string> Unhealthy, int? ExitCode)> StartAsync(LocalCluster plan, Cluster cluster, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(cluster);
        Info($"Starting SynthVlm: {string.Join(", ", plan.Builder.Resources.Select(Describe))}" +
            (_logDirectory is null ? string.Empty : $" (service output in {_logDirectory})"));
        try
        {
            return (await cluster.StartAsync(stop).ConfigureAwait(false), null);
        }
        catch (ClusterStartException e)
        {
            Error(e.Message);
            await cluster.StopAsync().ConfigureAwait(false);
            return ([], 1);
        }
        catch (OperationCanceledException)
        {
            Info("Stopping (interrupted during start)...");
            await cluster.StopAsync().ConfigureAwait(false);
            return ([], 130);
        }
    }

    /// <summary>Stops the cluster and says so.</summary>
    public async Task StopAsync(Cluster cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        Info("Stopping...");
        await cluster.StopAsync().ConfigureAwait(false);
        Info($"Stopped {cluster.Replicas.Count} processes.");
    }

    private static string Describe(ClusterResource r) => r switch
    {
        ServiceResource s when s.Replicas > 1 => $"{s.Name}×{s.Replicas}",
        RedisResource { IsManaged: false } => $"{r.Name} (external)",
        _ => r.Name,
    };

    /// <summary>Prints the resource table.</summary>
    public void PrintTable(Cluster cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var table = new StringBuilder();
        table.AppendLine();
        table.AppendLine(CultureInfo.InvariantCulture, $"  {"RESOURCE",-14} {"STATE",-10} {"PID",-8} {"RESTARTS",-8} ENDPOINTS");
        foreach (var r in cluster.Replicas)
        {
            var endpoints = string.Join("  ", r.Launch.Endpoints.Select(e => $"{e.Key}={e.Value.ToString().TrimEnd('/')}"));
            table.AppendLine(CultureInfo.InvariantCulture, $"  {r.Name,-14} {r.State,-10} {r.Pid?.ToString(CultureInfo.InvariantCulture) ?? "-",-8} {r.Restarts,-8} {endpoints}");
        }
        lock (_console)
        {
            Above(() => Console.WriteLine(table.ToString()));
        }
    }

    /// <summary>Draws <paramref name="lines"/> at the bottom of the terminal in place of the previous frame.</summary>
    public void DrawFrame(IReadOnlyList<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        lock (_console)
        {
            Erase();
            _frame = lines;
            Redraw();
        }
    }

    /// <summary>Leaves the current frame on the screen as ordinary output.</summary>
    public void EndFrame()
    {
        lock (_console)
        {
            _frame = [];
        }
    }

    /// <summary>Writes a line of plain output (above the frame, if one is drawn).</summary>
    public void WriteLine(string line)
    {
        lock (_console)
        {
            Above(() => Console.WriteLine(line));
        }
    }

    /// <summary>The dashboard's console store, once the dashboard runs: every line goes there too.</summary>
    public SynthVlm.Dashboard.ConsoleLogStore? Dashboard { get; set; }

    public void Started(ReplicaProcess replica, int pid)
    {
        Dashboard?.Append(replica.Name, $"---- started (pid {pid}) ----", isError: false);
        if (_logDirectory is null)
        {
            Write(replica.Name, $"started (pid {pid})", ConsoleColor.Gray);
        }
        else
        {
            Log(replica, string.Create(CultureInfo.InvariantCulture, $"---- {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} started (pid {pid}) ----"));
        }
    }

    public void Line(ReplicaProcess replica, string line, bool isError)
    {
        Dashboard?.Append(replica.Name, line, isError);
        if (_logDirectory is not null)
        {
            Log(replica, line);
            return;
        }
        lock (_console)
        {
            Above(() =>
            {
                Console.ForegroundColor = ColorOf(replica.Name);
                Console.Write($"[{replica.Name}] ");
                Console.ResetColor();
                Console.WriteLine(line);
            });
        }
    }

    public void StateChanged(ReplicaProcess replica, ReplicaState state)
    {
        Dashboard?.Append(replica.Name, $"---- state: {state} ----", isError: false);
        // In the run verb only what needs attention is shown; the rest is in the replica's log.
        var show = _logDirectory is null
            ? state is ReplicaState.Healthy or ReplicaState.Unhealthy or ReplicaState.Stopped or ReplicaState.FailedToStart
            : state is ReplicaState.FailedToStart;
        if (show)
        {
            Write(replica.Name, $"state: {state}", state == ReplicaState.Healthy ? ConsoleColor.Green : ConsoleColor.Yellow);
        }
        if (_logDirectory is not null)
        {
            Log(replica, $"---- state: {state} ----");
        }
    }

    public void Crashed(ReplicaProcess replica, int exitCode, IReadOnlyList<string> lastLines, TimeSpan restartIn)
    {
        var message = $"exited with code {exitCode}; restarting in {restartIn.TotalSeconds:0} s";
        Dashboard?.Append(replica.Name, "---- " + message + " ----", isError: true);
        if (_logDirectory is not null)
        {
            // Its output was not on the screen, so what it said last is shown with the crash.
            message += $". Last lines (all of them in {LogPath(replica.Name)}):" + Environment.NewLine + "  " +
                string.Join(Environment.NewLine + "  ", lastLines.TakeLast(CrashLinesShown));
            Log(replica, $"---- exited with code {exitCode} ----");
        }
        Write(replica.Name, message, ConsoleColor.Red);
    }

    public void Diagnostic(ReplicaProcess replica, string message)
    {
        Dashboard?.Append(replica.Name, "---- " + message + " ----", isError: true);
        Write(replica.Name, message, ConsoleColor.Yellow);
        if (_logDirectory is not null)
        {
            Log(replica, $"---- {message.ReplaceLineEndings(" | ")} ----");
        }
    }

    public void Info(string message) => Write("apphost", message, ConsoleColor.White);

    public void Warn(string message) => Write("apphost", message, ConsoleColor.Yellow);

    public void Error(string message) => Write("apphost", message, ConsoleColor.Red);

    private void Write(string source, string message, ConsoleColor color)
    {
        lock (_console)
        {
            Above(() =>
            {
                Console.ForegroundColor = color;
                Console.WriteLine($"[{source}] {message}");
                Console.ResetColor();
            });
        }
    }

    // Callers hold _console.
    private void Above(Action write)
    {
        Erase();
        write();
        Redraw();
    }

    private void Erase()
    {
        if (_frame.Count > 0)
        {
            Console.Write(string.Format(CultureInfo.InvariantCulture, CursorUp, _frame.Count) + "\r" + ClearToEnd);
        }
    }

    private void Redraw()
    {
        foreach (var line in _frame)
        {
            Console.WriteLine(line);
        }
    }

    private string LogPath(string replica) => Path.Combine(_logDirectory!, replica + ".log");

    private void Log(ReplicaProcess replica, string line)
    {
        lock (_console)
        {
            if (_closed)
            {
                return;
            }
            if (!_logs.TryGetValue(replica.Name, out var writer))
            {
                writer = new StreamWriter(LogPath(replica.Name), append: true, new UTF8Encoding(false)) { AutoFlush = true };
                _logs[replica.Name] = writer;
            }
            writer.WriteLine(line);
        }
    }

    private ConsoleColor ColorOf(string name)
    {
        if (!_colors.TryGetValue(name, out var color))
        {
            color = Palette[_colors.Count % Palette.Length];
            _colors[name] = color;
        }
        return color;
    }

    public void Dispose()
    {
        lock (_console)
        {
            _closed = true;
            foreach (var writer in _logs.Values)
            {
                writer.Dispose();
            }
            _logs.Clear();
        }
    }
}
