using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace SynthVlm.Bench.Cluster;

/// <summary>CPU (% of one core) and RSS of one process group over the window.</summary>
internal sealed record GroupUsage(string Group, int Processes, double CpuPercent, double RssMiB);

/// <summary>What one idle window measured: per group, the total, and how many processes came or went meanwhile.</summary>
internal sealed record IdleResult(IReadOnlyList<GroupUsage> Groups, double Seconds, int Started, int Exited, string LoadAverage)
{
    public double TotalCpu => Groups.Sum(g => g.CpuPercent);

    public double TotalRss => Groups.Sum(g => g.RssMiB);

    public int TotalProcesses => Groups.Sum(g => g.Processes);

    public double Cpu(string group) => Groups.FirstOrDefault(g => g.Group == group)?.CpuPercent ?? 0;
}

/// <summary>
/// Samples utime+stime of every process of a cluster at the start and end of a window. The set is
/// found again at the end, so a process started during the window counts with all its ticks and one
/// that exited is reported (its last ticks are lost: /proc forgets them).
/// </summary>
internal static class IdleSampler
{
    public const string AppHost = "AppHost";
    public const string Dcp = "DCP";
    public const string Dashboard = "dashboard";
    public const string Wrappers = "dotnet run wrappers";
    public const string Services = "services";
    public const string Redis = "redis-server";
    public const string Other = "other";

    /// <summary>Group order in the printed table.</summary>
    public static readonly string[] Order = [AppHost, Dcp, Dashboard, Wrappers, Services, Redis, Other];

    private static readonly string[] ServiceNames = [.. KnownServices.All.Select(s => s.ProjectName), "WebFrontend"];

    /// <summary>The processes of a cluster: descendants of <paramref name="roots"/>, plus (for an AppHost) DCP's processes that watch it (`--monitor PID`) and theirs.</summary>
    public static List<ProcInfo> Find(IReadOnlyCollection<int> roots, int? appHostPid)
    {
        var all = ProcStat.All();
        var monitors = appHostPid is { } pid
            ? all.Where(p => MonitorsPid(p.Argv, pid)).Select(p => p.Pid)
            : [];
        return ProcStat.WithDescendants(all, roots.Concat(monitors));
    }

    private static bool MonitorsPid(IReadOnlyList<string> argv, int pid)
    {
        var text = pid.ToString(CultureInfo.InvariantCulture);
        for (var i = 0; i + 1 < argv.Count; i++)
        {
            if (argv[i] == "--monitor" && argv[i + 1] == text)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Which group a process belongs to, from its argv.</summary>
    public static string Classify(ProcInfo p, int? appHostPid)
    {
        if (p.Pid == appHostPid)
        {
            return AppHost;
        }
        var exe = p.Argv.Count > 0 ? Path.GetFileName(p.Argv[0]) : p.Comm;
        if (p.Comm.StartsWith("redis-server", StringComparison.Ordinal) || exe.StartsWith("redis-server", StringComparison.Ordinal))
        {
            return Redis;
        }
        if (exe.StartsWith("dcp", StringComparison.Ordinal) || p.Argv.Any(a => a.Contains("orchestration", StringComparison.OrdinalIgnoreCase) && a.EndsWith("/dcp", StringComparison.Ordinal)))
        {
            return Dcp;
        }
        if (p.Argv.Any(a => a.Contains("Aspire.Dashboard", StringComparison.Ordinal)))
        {
            return Dashboard;
        }
        if (exe == "dotnet" && p.Argv.Count > 1 && p.Argv[1] == "run")
        {
            return Wrappers;
        }
        if (p.Argv.Any(a => ServiceNames.Any(s => a.Contains(s, StringComparison.Ordinal))))
        {
            return Services;
        }
        return Other;
    }

    /// <summary>CPU seconds each group has used since its processes started (what a start cost, read when it is done).</summary>
    public static Dictionary<string, double> CpuSoFar(IEnumerable<ProcInfo> processes, int? appHostPid) =>
        processes.GroupBy(p => Classify(p, appHostPid)).ToDictionary(g => g.Key, g => g.Sum(p => p.CpuTicks) / (double)ProcStat.ClockTicks, StringComparer.Ordinal);

    /// <summary>"AppHost 3.1 s, DCP 2.0 s, …" in <see cref="Order"/>, with the total.</summary>
    public static string Describe(Dictionary<string, double> cpu) =>
        string.Join(", ", Order.Where(cpu.ContainsKey).Select(g => string.Create(CultureInfo.InvariantCulture, $"{g} {cpu[g]:F1} s")))
        + string.Create(CultureInfo.InvariantCulture, $"; total {cpu.Values.Sum():F1} s");

    /// <summary>Waits <paramref name="window"/> and returns each group's CPU over it and its RSS at the end.</summary>
    public static async Task<IdleResult> SampleAsync(Func<List<ProcInfo>> find, int? appHostPid, TimeSpan window, StringBuilder? otherLog = null)
    {
        var before = find().ToDictionary(p => (p.Pid, p.StartTime));
        var clock = Stopwatch.StartNew();
        await Task.Delay(window);
        var after = find();
        var seconds = clock.Elapsed.TotalSeconds;
        var load = ProcStat.LoadAverage();
        var exited = before.Keys.Count(k => !after.Any(a => (a.Pid, a.StartTime) == k));
        var started = after.Count(a => !before.ContainsKey((a.Pid, a.StartTime)));
        var groups = new Dictionary<string, (int Count, long Ticks, long Rss)>(StringComparer.Ordinal);
        foreach (var p in after)
        {
            var group = Classify(p, appHostPid);
            var ticks = before.TryGetValue((p.Pid, p.StartTime), out var b) ? p.CpuTicks - b.CpuTicks : p.CpuTicks;
            var g = groups.GetValueOrDefault(group);
            groups[group] = (g.Count + 1, g.Ticks + ticks, g.Rss + p.RssBytes);
            if (group == Other)
            {
                otherLog?.AppendLine(CultureInfo.InvariantCulture, $"    other: pid {p.Pid} {p.CommandLine}");
            }
        }
        var usage = Order.Where(groups.ContainsKey)
            .Select(name => new GroupUsage(name, groups[name].Count, 100.0 * groups[name].Ticks / ProcStat.ClockTicks / seconds, groups[name].Rss / 1048576.0))
            .ToList();
        return new IdleResult(usage, seconds, started, exited, load);
    }
}
