using System.Globalization;
using System.Text.RegularExpressions;
using SynthVlm.Testing;

namespace SynthVlm.Bench.Cluster;

/// <summary>Every process the benchmark saw as part of something it started, so the end can check that none is left.</summary>
internal static class Started
{
    private static readonly Dictionary<(int Pid, long StartTime), string> Seen = [];

    public static void Record(IEnumerable<ProcInfo> processes)
    {
        lock (Seen)
        {
            foreach (var p in processes)
            {
                Seen[(p.Pid, p.StartTime)] = p.CommandLine;
            }
        }
    }

    /// <summary>Waits up to <paramref name="grace"/> for every recorded process to be gone; kills and returns those that are not.</summary>
    public static async Task<List<string>> LeftoversAsync(TimeSpan grace)
    {
        List<KeyValuePair<(int Pid, long StartTime), string>> alive;
        var until = DateTime.UtcNow + grace;
        do
        {
            lock (Seen)
            {
                alive = Seen.Where(s => ProcStat.Alive(s.Key)).ToList();
            }
            if (alive.Count == 0)
            {
                return [];
            }
            await Task.Delay(250);
        }
        while (DateTime.UtcNow < until);
        ProcessTree.KillWithDescendants(alive.Select(a => a.Key.Pid));
        return alive.Select(a => string.Create(CultureInfo.InvariantCulture, $"pid {a.Key.Pid}: {a.Value}")).ToList();
    }
}

/// <summary>Paths of what the benchmark starts, in the configuration it was built in.</summary>
internal static class Built
{
    public static string Configuration { get; } =
        typeof(Built).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyConfigurationAttribute), false)
            .OfType<System.Reflection.AssemblyConfigurationAttribute>().FirstOrDefault()?.Configuration ?? "Release";

    public static string Dll(string project) => Path.Combine(RepoPaths.Root, project, "bin", Configuration, "net10.0", project + ".dll");
}

/// <summary>One start of the AppHost (the default verb) in a fresh data folder.</summary>
internal sealed partial class AppHostRun : IDisposable
{
    private readonly DirectoryInfo _data;

    private AppHostRun(TimedProcess process, DirectoryInfo data)
    {
        Process = process;
        _data = data;
    }

    public TimedProcess Process { get; }

    public static AppHostRun Start(bool dashboard)
    {
        var data = Directory.CreateTempSubdirectory("synthvlm-cbench-");
        List<string> args = [Built.Dll("AppHost"), "--data-dir", data.FullName, "--dashboard-port", "0", "--otlp-port", "0"];
        if (!dashboard)
        {
            args.Add("--no-dashboard");
        }
        return new AppHostRun(TimedProcess.Start("dotnet", args, new Dictionary<string, string?>()), data);
    }

    /// <summary>Time to the "All N resources healthy" line and to each resource's first "Healthy" line.</summary>
    public async Task<(TimeSpan AllHealthy, int Resources, Dictionary<string, TimeSpan> FirstHealthy, Dictionary<string, double> CpuSeconds)> WaitHealthyAsync(TimeSpan timeout)
    {
        var all = await Process.WaitForLineAsync(l => AllHealthyLine().IsMatch(l), timeout)
            ?? throw new InvalidOperationException($"the AppHost did not print 'All N resources healthy' within {timeout.TotalSeconds:F0} s (exited: {Process.HasExited}); its last lines:\n{Process.Tail()}");
        var first = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        foreach (var (at, line) in Process.Lines())
        {
            if (HealthyLine().Match(line) is { Success: true } m)
            {
                first.TryAdd(m.Groups["resource"].Value, at);
            }
        }
        var processes = Processes();
        Started.Record(processes);
        return (all.At, int.Parse(AllHealthyLine().Match(all.Line).Groups["n"].Value, CultureInfo.InvariantCulture), first, IdleSampler.CpuSoFar(processes, Process.Pid));
    }

    /// <summary>The AppHost, DCP, the dashboard, the wrappers, the services and redis-server.</summary>
    public List<ProcInfo> Processes() => IdleSampler.Find([Process.Pid], Process.Pid);

    /// <summary>Ctrl+C as a user would, then waits; whatever is left after 60 s is killed.</summary>
    public async Task<TimeSpan?> StopAsync()
    {
        Started.Record(Processes());
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var stopped = await Process.InterruptAsync(TimeSpan.FromSeconds(60));
        var took = clock.Elapsed;
        if (!stopped)
        {
            ProcessTree.KillWithDescendants(Processes().Select(p => p.Pid));
        }
        return stopped ? took : null;
    }

    public void Dispose()
    {
        var pid = Process.Pid;
        Process.Dispose();
        // DCP runs in a session of its own, watching the AppHost's pid: kill it and what it started.
        ProcessTree.KillMatching(c => c.Contains($"--monitor {pid} ", StringComparison.Ordinal) || c.EndsWith($"--monitor {pid}", StringComparison.Ordinal));
        try
        {
            _data.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A file still held by a dying process; the OS temp cleaner gets it.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }

    [GeneratedRegex(@"All (?<n>\d+) resources healthy")]
    private static partial Regex AllHealthyLine();

    [GeneratedRegex(@"(?<resource>[a-z]+)-[a-z0-9]+: Healthy \(pid \d+\)")]
    private static partial Regex HealthyLine();
}

/// <summary>
/// The reference: the same services as plain processes (`dotnet X.dll`) on free loopback ports with
/// a redis-server of their own (AOF everysec, a password, as the AppHost runs it), no Aspire.
/// </summary>
internal sealed class DirectCluster : IAsyncDisposable
{
    private readonly List<(string Name, TimedProcess Process, int HttpPort)> _services = [];
    private readonly DirectoryInfo _data;

    private DirectCluster(RedisServer redis, DirectoryInfo data)
    {
        Redis = redis;
        _data = data;
    }

    public RedisServer Redis { get; }

    /// <summary>Starts redis-server (not timed), then <paramref name="projects"/> all at once (not waited for).</summary>
    public static async Task<DirectCluster> StartAsync(IReadOnlyList<string> projects)
    {
        var data = Directory.CreateTempSubdirectory("synthvlm-cbench-direct-");
        var redis = await RedisServer.StartAsync(new RedisServerOptions { AppendOnly = true, AppendFsync = "everysec", Password = "cbench", DataDirectory = Path.Combine(data.FullName, "redis") });
        var cluster = new DirectCluster(redis, data);
        var curationGrpc = 0;
        foreach (var project in projects)
        {
            var grpcPort = FreePort.Next();
            var httpPort = FreePort.Next();
            if (project == KnownServices.Curation.ProjectName)
            {
                curationGrpc = grpcPort;
            }
            var environment = new Dictionary<string, string?>
            {
                [KnownEnvironment.RedisConnectionStringEnv] = redis.ConnectionString,
                [KnownEnvironment.DataDirectory] = data.FullName,
                [KnownEnvironment.InstanceName] = project.ToLowerInvariant() + "-0",
                [KnownEnvironment.GrpcEndpointUrlEnv] = $"http://127.0.0.1:{grpcPort}",
                [KnownEnvironment.HttpEndpointUrlEnv] = $"http://127.0.0.1:{httpPort}",
                // As under the AppHost: a service whose parent is gone stops itself.
                [KnownEnvironment.ParentPid] = Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
            };
            if (project == "WebFrontend" && curationGrpc != 0)
            {
                environment[KnownEnvironment.ServiceGrpcEndpointEnv(KnownServices.Curation.Name)] = $"http://127.0.0.1:{curationGrpc}";
            }
            cluster._services.Add((project, TimedProcess.Start("dotnet", [Built.Dll(project)], environment), httpPort));
        }
        return cluster;
    }

    /// <summary>Per service, the time from its start to its first /health 200.</summary>
    public async Task<(Dictionary<string, TimeSpan> Times, Dictionary<string, double> CpuSeconds)> WaitHealthyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var times = await Task.WhenAll(_services.Select(async s =>
        {
            var url = new Uri($"http://127.0.0.1:{s.HttpPort}/health");
            while (s.Process.Elapsed < timeout)
            {
                if (s.Process.HasExited)
                {
                    throw new InvalidOperationException($"{s.Name} exited before /health answered 200; its last lines:\n{s.Process.Tail()}");
                }
                try
                {
                    using var response = await http.GetAsync(url);
                    if (response.IsSuccessStatusCode)
                    {
                        return (s.Name, s.Process.Elapsed);
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    // Not listening yet, or too busy starting to answer.
                }
                await Task.Delay(20);
            }
            throw new InvalidOperationException($"{s.Name}: /health did not answer 200 within {timeout.TotalSeconds:F0} s; its last lines:\n{s.Process.Tail()}");
        }));
        var processes = Processes();
        Started.Record(processes);
        return (times.ToDictionary(t => t.Name, t => t.Elapsed, StringComparer.Ordinal), IdleSampler.CpuSoFar(processes, null));
    }

    /// <summary>redis-server and the services: the benchmark's own descendants (nothing else of it runs meanwhile).</summary>
    public static List<ProcInfo> Processes() => IdleSampler.Find([Environment.ProcessId], null).Where(p => p.Pid != Environment.ProcessId).ToList();

    public async ValueTask DisposeAsync()
    {
        Started.Record(Processes());
        foreach (var (_, process, _) in _services)
        {
            process.Dispose();
        }
        await Redis.DisposeAsync();
        try
        {
            _data.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A file still held by a dying process; the OS temp cleaner gets it.
        }
    }
}
