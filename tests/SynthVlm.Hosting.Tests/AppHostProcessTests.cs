using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using FluentAssertions;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Hosting.Tests;

/// <summary>
/// The README's run command, as a process: the AppHost starts redis-server and the six services
/// (scoring with two replicas), reports them healthy, restarts a killed replica, and on Ctrl+C
/// (SIGINT) stops everything it started — no orphan processes.
/// </summary>
public sealed partial class AppHostProcessTests : IDisposable
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("synthvlm-apphost-").FullName;

    private static string AppHostDll()
    {
        var configuration = typeof(AppHostProcessTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        return Path.Combine(RepoPaths.Root, "AppHost", "bin", configuration, "net10.0", "AppHost.dll");
    }

    [Fact]
    public async Task Starts_everything_healthy_restarts_a_killed_replica_and_leaves_no_orphans_on_ctrl_c()
    {
        var output = new StringBuilder();
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { AppHostDll(), "--replicas", "scoring=2", "--data-dir", _dataDir })
        {
            info.ArgumentList.Add(a);
        }
        info.Environment.Remove(KnownEnvironment.RedisConnectionStringEnv);
        info.Environment.Remove(KnownEnvironment.OtlpEndpoint);
        using var apphost = new Process { StartInfo = info };
        apphost.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        apphost.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        apphost.Start();
        apphost.BeginOutputReadLine();
        apphost.BeginErrorReadLine();
        string Text() { lock (output) { return output.ToString(); } }
        try
        {
            await TestTimeout.Until(() => Text().Contains("resources healthy", StringComparison.Ordinal) || apphost.HasExited,
                TimeSpan.FromSeconds(120), "the AppHost to report healthy");
            var text = Text();
            text.Should().Contain("All 8 resources healthy", text);

            var pids = StartedPid().Matches(text).ToDictionary(m => m.Groups["name"].Value, m => int.Parse(m.Groups["pid"].Value, System.Globalization.CultureInfo.InvariantCulture));
            pids.Keys.Should().BeEquivalentTo(["redis", "curation", "diffusion", "scoring-0", "scoring-1", "selection", "training", "eval"]);
            pids.Values.Should().OnlyContain(pid => Directory.Exists($"/proc/{pid}"));

            // A replica killed from outside is restarted and becomes healthy again.
            Process.GetProcessById(pids["scoring-1"]).Kill();
            await TestTimeout.Until(() => Regex.Matches(Text(), @"\[scoring-1\] state: Healthy").Count >= 2, TimeSpan.FromSeconds(60), "scoring-1 healthy again");
            var restarted = StartedPid().Matches(Text()).Where(m => m.Groups["name"].Value == "scoring-1").Select(m => int.Parse(m.Groups["pid"].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            restarted.Should().HaveCount(2);
            Text().Should().Contain("[scoring-1] exited with code");

            // Ctrl+C: SIGINT to the AppHost only (not its process group), as a terminal would deliver to the foreground job.
            (await ChildProcess.RunAsync("kill", ["-INT", apphost.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])).ExitCode.Should().Be(0);
            await apphost.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

            apphost.ExitCode.Should().Be(0, Text());
            Text().Should().Contain("Stopped 8 processes");
            foreach (var pid in pids.Values.Append(restarted[1]))
            {
                Directory.Exists($"/proc/{pid}").Should().BeFalse($"pid {pid} was started by the AppHost and must be gone");
            }
            File.Exists(Path.Combine(_dataDir, "redis", "appendonlydir", "appendonly.aof.manifest")).Should().BeTrue("Redis runs with AOF in the data folder");
        }
        finally
        {
            if (!apphost.HasExited)
            {
                apphost.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task Run_verb_starts_the_cluster_runs_a_pool_to_a_dataset_prints_the_summary_and_stops_everything()
    {
        var pool = Path.Combine(_dataDir, "pool.json");
        var captions = Enumerable.Range(0, 8).Select(i => new { id = $"c{i}", caption = $"a yellow kite number {i} flying over a green hill on a windy afternoon" }).ToList();
        captions.Add(new { id = "c3", caption = "a duplicate id that must be dropped with its reason" });
        await File.WriteAllTextAsync(pool, System.Text.Json.JsonSerializer.Serialize(captions));
        var output = Path.Combine(_dataDir, "dataset");

        var result = await ChildProcess.RunAsync("dotnet",
            [AppHostDll(), "run", "--captions", pool, "--out", output, "--top-k", "3", "--variants", "1", "--steps", "2", "--size", "32x32", "--run-id", "apphost-run", "--data-dir", _dataDir],
            TimeSpan.FromMinutes(5));

        var text = result.StandardOutput + result.StandardError;
        result.ExitCode.Should().Be(0, text);
        text.Should().Contain("COMPLETED").And.Contain(output).And.Contain("| selected | 3 |").And.Contain("Stopped 7 processes");
        var llava = System.Text.Json.JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(output, "llava.json"))).RootElement;
        llava.GetArrayLength().Should().Be(3);
        File.Exists(Path.Combine(_dataDir, "apphost.json")).Should().BeFalse("a run that started its own cluster leaves no running-cluster file");
        // Service output went to the logs folder, one file per replica.
        Directory.GetFiles(Path.Combine(_dataDir, "logs"), "*.log").Should().HaveCountGreaterThanOrEqualTo(6);
    }

    [Fact]
    public async Task Unknown_service_in_replicas_is_one_clear_line()
    {
        var result = await ChildProcess.RunAsync("dotnet", [AppHostDll(), "--replicas", "painting=2"], TimeSpan.FromSeconds(60));

        result.ExitCode.Should().Be(2);
        result.StandardError.Trim().Should().Contain("'painting' is not a service").And.Contain("diffusion");
    }

    [GeneratedRegex(@"\[(?<name>[a-z0-9-]+)\] started \(pid (?<pid>\d+)\)")]
    private static partial Regex StartedPid();

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
    }
}
