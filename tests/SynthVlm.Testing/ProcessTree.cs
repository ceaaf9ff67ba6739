using System.Globalization;

namespace SynthVlm.Testing;

/// <summary>Finds processes by what /proc says of them, and kills them with their descendants (Linux).</summary>
public static class ProcessTree
{
    /// <summary>Every live process: pid, parent pid, command line (arguments joined by spaces).</summary>
    public static IReadOnlyList<(int Pid, int ParentPid, string CommandLine)> Snapshot()
    {
        var result = new List<(int, int, string)>();
        if (!Directory.Exists("/proc"))
        {
            return result;
        }
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').TrimEnd();
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                result.Add((pid, int.Parse(fields[1], CultureInfo.InvariantCulture), cmdline));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
            {
                // Gone while reading, or not ours.
            }
        }
        return result;
    }

    /// <summary>Live processes whose environment holds <paramref name="variable"/>=<paramref name="value"/>.</summary>
    public static IReadOnlyList<int> WithEnvironment(string variable, string value)
    {
        var wanted = variable + "=" + value;
        var found = new List<int>();
        foreach (var (pid, _, _) in Snapshot())
        {
            try
            {
                if (File.ReadAllText($"/proc/{pid}/environ").Split('\0').Contains(wanted, StringComparer.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone while reading.
            }
        }
        return found;
    }

    /// <summary>Kills (SIGKILL) every process whose command line matches, and all their descendants.</summary>
    public static void KillMatching(Func<string, bool> commandLine)
    {
        ArgumentNullException.ThrowIfNull(commandLine);
        var all = Snapshot();
        var doomed = all.Where(p => commandLine(p.CommandLine)).Select(p => p.Pid).ToHashSet();
        Kill(all, doomed);
    }

    /// <summary>Kills (SIGKILL) <paramref name="pids"/> and all their descendants.</summary>
    public static void KillWithDescendants(IEnumerable<int> pids)
    {
        ArgumentNullException.ThrowIfNull(pids);
        Kill(Snapshot(), pids.ToHashSet());
    }

    private static void Kill(IReadOnlyList<(int Pid, int ParentPid, string CommandLine)> all, HashSet<int> doomed)
    {
        bool added;
        do
        {
            added = false;
            foreach (var p in all)
            {
                if (doomed.Contains(p.ParentPid) && doomed.Add(p.Pid))
                {
                    added = true;
                }
            }
        }
        while (added);
        foreach (var pid in doomed)
        {
            try
            {
                using var process = System.Diagnostics.Process.GetProcessById(pid);
                process.Kill();
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Already gone.
            }
        }
    }
}
