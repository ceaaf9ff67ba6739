using System.Runtime.InteropServices;
using SynthVlm.Hosting;

namespace SynthVlm.AppHost;

/// <summary>Runs the cluster in the terminal: prefixed live logs, a status table, Ctrl+C to stop.</summary>
internal sealed class ClusterConsole : IClusterOutput
{
    private static readonly ConsoleColor[] Palette =
        [ConsoleColor.Cyan, ConsoleColor.Green, ConsoleColor.Magenta, ConsoleColor.Yellow, ConsoleColor.Blue, ConsoleColor.DarkCyan, ConsoleColor.DarkGreen, ConsoleColor.DarkMagenta];

    private readonly Lock _console = new();
    private readonly Dictionary<string, ConsoleColor> _colors = [];

    public static async Task<int> RunAsync(ClusterBuilder builder, AppHostSettings settings)
    {
        var output = new ClusterConsole();
        using var stop = new CancellationTokenSource();
        // Ctrl+C and SIGTERM both drain: services stop first, Redis last.
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });

        await using var cluster = builder.Build(output);
        output.Info($"Starting SynthVlm: {string.Join(", ", builder.Resources.Select(Describe))}");
        IReadOnlyList<string> unhealthy;
        try
        {
            unhealthy = await cluster.StartAsync(stop.Token);
        }
        catch (ClusterStartException e)
        {
            output.Error(e.Message);
            return 1;
        }
        catch (OperationCanceledException)
        {
            output.Info("Stopping (interrupted during start)...");
            await cluster.StopAsync();
            return 130;
        }

        output.PrintTable(cluster);
        output.Info(unhealthy.Count == 0
            ? $"All {cluster.Replicas.Count} resources healthy. Press Ctrl+C to stop."
            : $"Running with unhealthy resources: {string.Join(", ", unhealthy)}. Press Ctrl+C to stop.");

        if (!settings.ExitWhenHealthy)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C
            }
        }
        output.Info("Stopping...");
        await cluster.StopAsync();
        output.Info($"Stopped {cluster.Replicas.Count} processes.");
        return unhealthy.Count == 0 ? 0 : 1;
    }

    private static string Describe(ClusterResource r) => r switch
    {
        ServiceResource s when s.Replicas > 1 => $"{s.Name}×{s.Replicas}",
        RedisResource { IsManaged: false } => $"{r.Name} (external)",
        _ => r.Name,
    };

    private void PrintTable(Cluster cluster)
    {
        lock (_console)
        {
            Console.WriteLine();
            Console.WriteLine($"  {"RESOURCE",-14} {"STATE",-10} {"PID",-8} {"RESTARTS",-8} ENDPOINTS");
            foreach (var r in cluster.Replicas)
            {
                var endpoints = string.Join("  ", r.Launch.Endpoints.Select(e => $"{e.Key}={e.Value.ToString().TrimEnd('/')}"));
                Console.WriteLine($"  {r.Name,-14} {r.State,-10} {r.Pid?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-",-8} {r.Restarts,-8} {endpoints}");
            }
            Console.WriteLine();
        }
    }

    public void Started(ReplicaProcess replica, int pid) => Write(replica.Name, $"started (pid {pid})", ConsoleColor.Gray);

    public void Line(ReplicaProcess replica, string line, bool isError)
    {
        lock (_console)
        {
            Console.ForegroundColor = ColorOf(replica.Name);
            Console.Write($"[{replica.Name}] ");
            Console.ResetColor();
            Console.WriteLine(line);
        }
    }

    public void StateChanged(ReplicaProcess replica, ReplicaState state)
    {
        if (state is ReplicaState.Healthy or ReplicaState.Unhealthy or ReplicaState.Stopped or ReplicaState.FailedToStart)
        {
            Write(replica.Name, $"state: {state}", state == ReplicaState.Healthy ? ConsoleColor.Green : ConsoleColor.Yellow);
        }
    }

    public void Crashed(ReplicaProcess replica, int exitCode, IReadOnlyList<string> lastLines, TimeSpan restartIn) =>
        Write(replica.Name, $"exited with code {exitCode}; restarting in {restartIn.TotalSeconds:0} s", ConsoleColor.Red);

    public void Diagnostic(ReplicaProcess replica, string message) => Write(replica.Name, message, ConsoleColor.Yellow);

    public void Info(string message) => Write("apphost", message, ConsoleColor.White);

    private void Error(string message) => Write("apphost", message, ConsoleColor.Red);

    private void Write(string source, string message, ConsoleColor color)
    {
        lock (_console)
        {
            Console.ForegroundColor = color;
            Console.WriteLine($"[{source}] {message}");
            Console.ResetColor();
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
}
