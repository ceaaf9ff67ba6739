using System.Globalization;
using System.Text;
using SynthVlm;
using SynthVlm.Bench.Cluster;

// The Aspire cluster against the same services without Aspire, measured in one run (Linux, /proc):
// 1. Cold start: `dotnet AppHost.dll` (DCP, dashboard, redis-server, 6 services + web) from process
//    start to its "All N resources healthy" line, N runs with a fresh data folder each; reference:
//    CurationService alone (`dotnet CurationService.dll`, its redis-server already up) to /health 200.
// 2. Idle CPU: 10 s after all healthy, utime+stime of every process of the cluster over a window,
//    as % of one core per group, and RSS; reference: the same 7 services + redis-server started
//    directly, measured the same way. Also the AppHost with --no-dashboard.
// 3. Every process it started is stopped, and the end checks that none is left.
var quick = args.Contains("--quick");
int runs, idleSeconds, settleSeconds;
try
{
    runs = Option("--runs", quick ? 1 : 3);
    idleSeconds = Option("--idle-seconds", quick ? 10 : 30);
    settleSeconds = Option("--settle-seconds", quick ? 5 : 10);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message + " Options: [--quick] [--runs N] [--idle-seconds S] [--settle-seconds S].");
    return 2;
}
var startTimeout = TimeSpan.FromSeconds(300);
string[] projects = [.. KnownServices.All.Select(s => s.ProjectName), "WebFrontend"];

foreach (var dll in projects.Append("AppHost").Select(Built.Dll))
{
    if (!File.Exists(dll))
    {
        Console.Error.WriteLine($"{dll} is missing: build it first (dotnet build -c {Built.Configuration} AppHost).");
        return 2;
    }
}
if (!Directory.Exists("/proc"))
{
    Console.Error.WriteLine("This benchmark reads /proc: Linux only.");
    return 2;
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {Built.Configuration} build, {runs} cold start(s), idle window {idleSeconds} s after {settleSeconds} s; load average {ProcStat.LoadAverage()}"));

var failed = false;
var report = new StringBuilder();
try
{
    // 1. Cold starts of the AppHost; the last one stays up for the idle window.
    var clusterTimes = new List<double>();
    var firstHealthy = new Dictionary<string, List<double>>(StringComparer.Ordinal);
    var stopTimes = new List<double>();
    IdleResult? idle = null;
    var telemetry = "";
    var resources = 0;
    for (var run = 1; run <= runs; run++)
    {
        using var host = AppHostRun.Start(dashboard: true);
        var (all, count, first, cpu) = await host.WaitHealthyAsync(startTimeout);
        resources = count;
        clusterTimes.Add(all.TotalSeconds);
        foreach (var (resource, at) in first)
        {
            (firstHealthy.TryGetValue(resource, out var list) ? list : firstHealthy[resource] = []).Add(at.TotalSeconds);
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  AppHost run {run}: all {count} healthy at {all.TotalSeconds:F1} s (load {ProcStat.LoadAverage()}); CPU used so far: {IdleSampler.Describe(cpu)}"));
        if (run == runs)
        {
            telemetry = TelemetrySettings(host.Processes());
            await Task.Delay(TimeSpan.FromSeconds(settleSeconds));
            idle = await IdleSampler.SampleAsync(host.Processes, host.Process.Pid, TimeSpan.FromSeconds(idleSeconds), report);
        }
        if (await host.StopAsync() is { } took)
        {
            stopTimes.Add(took.TotalSeconds);
        }
    }

    // The same with --no-dashboard.
    IdleResult idleNoDashboard;
    double noDashboardStart;
    using (var host = AppHostRun.Start(dashboard: false))
    {
        var (all, _, _, cpu) = await host.WaitHealthyAsync(startTimeout);
        noDashboardStart = all.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  AppHost --no-dashboard: all healthy at {all.TotalSeconds:F1} s (load {ProcStat.LoadAverage()}); CPU used so far: {IdleSampler.Describe(cpu)}"));
        await Task.Delay(TimeSpan.FromSeconds(settleSeconds));
        idleNoDashboard = await IdleSampler.SampleAsync(host.Processes, host.Process.Pid, TimeSpan.FromSeconds(idleSeconds), report);
        await host.StopAsync();
    }

    // Reference for the cold start: one service alone, its redis-server already answering.
    var singleTimes = new List<double>();
    for (var run = 1; run <= runs; run++)
    {
        await using var single = await DirectCluster.StartAsync([KnownServices.Curation.ProjectName]);
        var (times, cpu) = await single.WaitHealthyAsync(startTimeout);
        singleTimes.Add(times.Values.Single().TotalSeconds);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  CurationService alone run {run}: /health 200 at {singleTimes[^1]:F1} s (load {ProcStat.LoadAverage()}); CPU used so far: {IdleSampler.Describe(cpu)}"));
    }

    // Reference for idle CPU: the same services without Aspire.
    IdleResult idleDirect;
    double directStart;
    await using (var direct = await DirectCluster.StartAsync(projects))
    {
        var (times, cpu) = await direct.WaitHealthyAsync(startTimeout);
        directStart = times.Values.Max().TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {projects.Length} services started directly: all /health 200 at {directStart:F1} s (load {ProcStat.LoadAverage()}); CPU used so far: {IdleSampler.Describe(cpu)}"));
        await Task.Delay(TimeSpan.FromSeconds(settleSeconds));
        idleDirect = await IdleSampler.SampleAsync(DirectCluster.Processes, null, TimeSpan.FromSeconds(idleSeconds), report);
    }

    Console.WriteLine();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Cold start, process start to healthy (median of {runs}):"));
    var clusterMedian = Median(clusterTimes);
    var singleMedian = Median(singleTimes);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  AppHost, all {resources} resources healthy   {clusterMedian,6:F1} s   [{Join(clusterTimes)}]"));
    foreach (var (resource, times) in firstHealthy.OrderBy(f => Median(f.Value)))
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {"first '" + resource + "' Healthy line",-37}{Median(times),6:F1} s"));
    }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  AppHost --no-dashboard (1 run)          {noDashboardStart,6:F1} s"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  reference: CurationService alone        {singleMedian,6:F1} s   [{Join(singleTimes)}]"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  (the {projects.Length} services directly, at once  {directStart,6:F1} s, 1 run)"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  ratio cluster / single service          {clusterMedian / singleMedian,6:F2}x"));
    if (stopTimes.Count > 0)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  (Ctrl+C to AppHost exit, median        {Median(stopTimes),6:F1} s)"));
    }

    Console.WriteLine();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Idle cluster, {settleSeconds} s after all healthy, CPU over {idleSeconds} s (% of one core) and RSS at the end:"));
    Print("AppHost (dashboard)", idle!);
    Print("AppHost --no-dashboard", idleNoDashboard);
    Print("reference: direct", idleDirect);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"  ratio AppHost / direct: CPU {idle!.TotalCpu / idleDirect.TotalCpu:F1}x, RSS {idle.TotalRss / idleDirect.TotalRss:F1}x; --no-dashboard / direct: CPU {idleNoDashboard.TotalCpu / idleDirect.TotalCpu:F1}x, RSS {idleNoDashboard.TotalRss / idleDirect.TotalRss:F1}x"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"  services only (same processes both ways): AppHost {idle.Cpu(IdleSampler.Services):F2} % vs direct {idleDirect.Cpu(IdleSampler.Services):F2} %"));
    Console.WriteLine("  telemetry settings Aspire gave the services: " + telemetry);
    if (report.Length > 0)
    {
        Console.Write(report);
    }
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine("FAILED: " + e.Message);
    failed = true;
}

var leftovers = await Started.LeftoversAsync(TimeSpan.FromSeconds(15));
Console.WriteLine();
Console.WriteLine(leftovers.Count == 0
    ? "Cleanup: every process the benchmark started (or saw in a cluster it started) is gone."
    : $"Cleanup: {leftovers.Count} processes were still running and were killed:\n  " + string.Join("\n  ", leftovers));
Console.WriteLine($"load average at the end {ProcStat.LoadAverage()}");
return failed || leftovers.Count > 0 ? 1 : 0;

int Option(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    if (i < 0)
    {
        return fallback;
    }
    if (i + 1 >= args.Length || !int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < 1)
    {
        throw new ArgumentException($"{name} needs a whole number of at least 1 (got '{(i + 1 < args.Length ? args[i + 1] : "")}').");
    }
    return value;
}

// What the services export to the dashboard and how often: the likely difference in their idle CPU.
// (OTEL_EXPORTER_OTLP_HEADERS holds the dashboard's API key: never printed.)
static string TelemetrySettings(List<ProcInfo> processes)
{
    string[] keys = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_METRIC_EXPORT_INTERVAL", "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BLRP_SCHEDULE_DELAY", "OTEL_TRACES_SAMPLER"];
    var service = processes.FirstOrDefault(p => IdleSampler.Classify(p, null) == IdleSampler.Services && p.CommandLine.Contains(KnownServices.Curation.ProjectName, StringComparison.Ordinal));
    if (service is null)
    {
        return "(curation not found)";
    }
    try
    {
        var environment = File.ReadAllText($"/proc/{service.Pid}/environ").Split('\0');
        var found = keys.Select(k => environment.FirstOrDefault(e => e.StartsWith(k + "=", StringComparison.Ordinal)) ?? k + " unset");
        return string.Join(", ", found);
    }
    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
    {
        return "(unreadable: " + e.Message + ")";
    }
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}

static string Join(List<double> values) => string.Join(", ", values.Select(v => v.ToString("F1", CultureInfo.InvariantCulture)));

static void Print(string title, IdleResult r)
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"  {title}: {r.TotalProcesses} processes, total {r.TotalCpu:F2} % of a core, RSS {r.TotalRss:F0} MiB (window {r.Seconds:F1} s, {r.Started} started / {r.Exited} exited in it, load {r.LoadAverage})"));
    foreach (var g in r.Groups)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {g.Group,-22} {g.Processes,3} proc {g.CpuPercent,7:F2} %  {g.RssMiB,7:F0} MiB"));
    }
}
