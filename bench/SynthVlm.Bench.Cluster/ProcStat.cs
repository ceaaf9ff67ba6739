using System.Globalization;

namespace SynthVlm.Bench.Cluster;

/// <summary>One process as /proc shows it: identity (pid + start time, so a reused pid is not confused with it), parent, argv, CPU ticks, RSS.</summary>
internal sealed record ProcInfo(int Pid, long StartTime, int ParentPid, string Comm, IReadOnlyList<string> Argv, long CpuTicks, long RssBytes)
{
    public string CommandLine => string.Join(' ', Argv);
}

/// <summary>Reads /proc (Linux): every process, or one; CPU in clock ticks (utime + stime of the process's own threads).</summary>
internal static class ProcStat
{
    /// <summary>Every live process now.</summary>
    public static List<ProcInfo> All()
    {
        var result = new List<ProcInfo>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && Read(pid) is { } info)
            {
                result.Add(info);
            }
        }
        return result;
    }

    /// <summary>The process, or null when it is gone (or a zombie).</summary>
    public static ProcInfo? Read(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
            var open = stat.IndexOf('(', StringComparison.Ordinal);
            var close = stat.LastIndexOf(')');
            var comm = stat[(open + 1)..close];
            var f = stat[(close + 2)..].Split(' ');
            // f[0] is field 3 (state): field n is f[n - 3].
            if (f[0] == "Z")
            {
                return null;
            }
            var ppid = int.Parse(f[1], CultureInfo.InvariantCulture);
            var ticks = long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);
            var start = long.Parse(f[19], CultureInfo.InvariantCulture);
            var rssPages = long.Parse(f[21], CultureInfo.InvariantCulture);
            var argv = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
            return new ProcInfo(pid, start, ppid, comm, argv, ticks, rssPages * Environment.SystemPageSize);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>Whether the process that had this pid and start time still runs.</summary>
    public static bool Alive((int Pid, long StartTime) id) => Read(id.Pid) is { } p && p.StartTime == id.StartTime;

    /// <summary><paramref name="roots"/> and all their descendants in <paramref name="all"/>.</summary>
    public static List<ProcInfo> WithDescendants(List<ProcInfo> all, IEnumerable<int> roots)
    {
        var keep = roots.ToHashSet();
        bool added;
        do
        {
            added = false;
            foreach (var p in all)
            {
                if (keep.Contains(p.ParentPid) && keep.Add(p.Pid))
                {
                    added = true;
                }
            }
        }
        while (added);
        return all.Where(p => keep.Contains(p.Pid)).ToList();
    }

    /// <summary>Clock ticks per second (sysconf CLK_TCK); 100 on every mainstream Linux build.</summary>
    public static int ClockTicks { get; } = ReadClockTicks();

    private static int ReadClockTicks()
    {
        try
        {
            using var getconf = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true, UseShellExecute = false });
            var text = getconf!.StandardOutput.ReadToEnd();
            getconf.WaitForExit(5000);
            return int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var hz) && hz > 0 ? hz : 100;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return 100;
        }
    }

    /// <summary>"1.23 0.98 0.75" from /proc/loadavg.</summary>
    public static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
}
