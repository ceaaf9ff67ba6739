using System.Diagnostics;
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
public sealed class AppHostProcessTests : IDisposable
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("synthvlm-apphost-").FullName;

    private static string AppHostDll() => AppHostProcess.Dll(typeof(AppHostProcessTests).Assembly);

    [Fact]
    public async Task Starts_everything_healthy_restarts_a_killed_replica_and_leaves_no_orphans_on_ctrl_c()
    {
        await using var apphost = AppHostProcess.Start(typeof(AppHostProcessTests).Assembly,
            ["--replicas", "scoring=2", "--data-dir", _dataDir, "--dashboard-port", "0", "--otlp-port", "0"]);
        await apphost.WaitForAsync("resources healthy", TimeSpan.FromSeconds(120));
        apphost.Output.Should().Contain("All 8 resources healthy", apphost.Output);

        var pids = apphost.StartedPids();
        pids.Keys.Should().BeEquivalentTo(["redis", "curation", "diffusion", "scoring-0", "scoring-1", "selection", "training", "eval"]);
        pids.Values.Should().OnlyContain(pid => Directory.Exists($"/proc/{pid}"));

        // A replica killed from outside is restarted and becomes healthy again.
        Process.GetProcessById(pids["scoring-1"]).Kill();
        await TestTimeout.Until(() => Regex.Matches(apphost.Output, @"\[scoring-1\] state: Healthy").Count >= 2, TimeSpan.FromSeconds(60), "scoring-1 healthy again");
        var restarted = apphost.StartedPids()["scoring-1"];
        restarted.Should().NotBe(pids["scoring-1"]);
        apphost.Output.Should().Contain("[scoring-1] exited with code");

        // The dashboard printed at start shows every replica, the killed one restarted.
        var dashboard = apphost.DashboardLogin;
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = new System.Net.CookieContainer(), UseProxy = false });
        (await http.GetAsync(new Uri(dashboard, "/api/resources"))).StatusCode.Should().Be(System.Net.HttpStatusCode.Unauthorized);
        (await http.GetAsync(dashboard)).IsSuccessStatusCode.Should().BeTrue();
        var resources = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(new Uri(dashboard, "/api/resources"))).RootElement.EnumerateArray()
            .ToDictionary(r => r.GetProperty("name").GetString()!, r => (State: r.GetProperty("state").GetString(), Restarts: r.GetProperty("restarts").GetInt32()));
        resources.Keys.Should().BeEquivalentTo(pids.Keys);
        resources.Values.Should().OnlyContain(r => r.State == "Healthy");
        resources["scoring-1"].Restarts.Should().BeGreaterThanOrEqualTo(1);

        // Ctrl+C: SIGINT to the AppHost only (not its process group), as a terminal would deliver to the foreground job.
        await apphost.InterruptAsync(TimeSpan.FromSeconds(60));

        apphost.ExitCode.Should().Be(0, apphost.Output);
        apphost.Output.Should().Contain("Stopped 8 processes");
        foreach (var pid in pids.Values.Append(restarted))
        {
            Directory.Exists($"/proc/{pid}").Should().BeFalse($"pid {pid} was started by the AppHost and must be gone");
        }
        File.Exists(Path.Combine(_dataDir, "redis", "appendonlydir", "appendonly.aof.manifest")).Should().BeTrue("Redis runs with AOF in the data folder");
        using var probe = new System.Net.Sockets.TcpClient();
        await FluentActions.Awaiting(() => probe.ConnectAsync("127.0.0.1", dashboard.Port)).Should().ThrowAsync<System.Net.Sockets.SocketException>("the dashboard stops with the AppHost");
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
            [AppHostDll(), "run", "--captions", pool, "--out", output, "--top-k", "3", "--variants", "1", "--steps", "2", "--size", "32x32", "--run-id", "apphost-run", "--data-dir", _dataDir, "--dashboard-port", "0", "--otlp-port", "0"],
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

    [Fact]
    public async Task A_taken_dashboard_port_is_one_line_naming_the_port_and_nothing_starts()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        var result = await ChildProcess.RunAsync("dotnet", [AppHostDll(), "--data-dir", _dataDir, "--dashboard-port", port, "--otlp-port", "0"], TimeSpan.FromSeconds(60));

        result.ExitCode.Should().Be(2, result.StandardOutput);
        (result.StandardOutput + result.StandardError).Should().Contain($"dashboard port {port} on 127.0.0.1 is already in use").And.Contain("--dashboard-port")
            .And.NotContain("Starting SynthVlm");
    }

    [Fact]
    public async Task Without_redis_server_on_the_path_the_apphost_says_how_to_install_it_or_use_an_existing_one()
    {
        // A machine without it: the binary the AppHost is told to run does not exist.
        await using var apphost = AppHostProcess.Start(typeof(AppHostProcessTests).Assembly,
            ["--data-dir", _dataDir, "--dashboard-port", "0", "--otlp-port", "0"],
            new Dictionary<string, string> { [Cluster.RedisServerEnv] = Path.Combine(_dataDir, "missing", "redis-server") });
        await TestTimeout.Until(() => apphost.HasExited, TimeSpan.FromSeconds(60), "the AppHost to give up");

        apphost.ExitCode.Should().NotBe(0);
        apphost.Output.Should().Contain("redis-server").And.Contain("apt-get install redis-server").And.Contain("--redis host:port", apphost.Output);
    }

    [Fact]
    public async Task A_service_that_fails_at_start_is_shown_with_its_last_lines_and_the_others_keep_running()
    {
        var missing = Path.Combine(_dataDir, "no-such-clip-model");
        // Only the scoring service reads this key: its model folder does not exist, so it exits at start.
        await using var apphost = AppHostProcess.Start(typeof(AppHostProcessTests).Assembly,
            ["--data-dir", _dataDir, "--dashboard-port", "0", "--otlp-port", "0"],
            new Dictionary<string, string> { ["SynthVlm__Scoring__ClipModel"] = missing });
        await apphost.WaitForAsync("Press Ctrl+C to stop.", TimeSpan.FromSeconds(150));

        apphost.Output.Should().Contain("Running with unhealthy resources: scoring").And.Contain("exited").And.Contain(missing);
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = new System.Net.CookieContainer(), UseProxy = false });
        (await http.GetAsync(apphost.DashboardLogin)).IsSuccessStatusCode.Should().BeTrue();
        var resources = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(new Uri(apphost.DashboardLogin, "/api/resources"))).RootElement.EnumerateArray().ToList();
        var scoring = resources.Single(r => r.GetProperty("name").GetString() == "scoring");
        scoring.GetProperty("state").GetString().Should().NotBe("Healthy");
        scoring.GetProperty("restarts").GetInt32().Should().BeGreaterThanOrEqualTo(Cluster.FailFastRestarts);
        string.Join("\n", scoring.GetProperty("lastLines").EnumerateArray().Select(l => l.GetString())).Should().Contain(missing);
        resources.Where(r => r.GetProperty("name").GetString() is "redis" or "curation" or "diffusion" or "selection")
            .Should().OnlyContain(r => r.GetProperty("state").GetString() == "Healthy");

        await apphost.InterruptAsync(TimeSpan.FromSeconds(60));
        apphost.ExitCode.Should().Be(1, "the cluster ran with an unhealthy resource");
        apphost.StartedPids().Values.Should().OnlyContain(pid => !Directory.Exists($"/proc/{pid}"));
    }

    [Fact]
    public async Task An_unreachable_otlp_collector_does_not_stop_the_services()
    {
        await using var apphost = AppHostProcess.Start(typeof(AppHostProcessTests).Assembly,
            ["--data-dir", _dataDir, "--otlp", "http://127.0.0.1:1", "--no-dashboard", "--exit-when-healthy"]);
        await TestTimeout.Until(() => apphost.HasExited, TimeSpan.FromSeconds(120), "the smoke start to finish");

        apphost.ExitCode.Should().Be(0, apphost.Output);
        apphost.Output.Should().Contain("All 7 resources healthy").And.NotContain("Dashboard:");
    }

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
