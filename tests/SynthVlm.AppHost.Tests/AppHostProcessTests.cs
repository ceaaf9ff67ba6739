using FluentAssertions;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.AppHost.Tests;

/// <summary>
/// The built AppHost as users run it: the README's run verb end to end, and the one-line answers
/// to what users get wrong (an unknown service, a taken port, no redis-server, a service that cannot
/// start, a collector that is down).
/// </summary>
public sealed class AppHostProcessTests : IDisposable
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("synthvlm-apphost-").FullName;

    private static string AppHostDll() => AppHostProcess.Dll(typeof(AppHostProcessTests).Assembly);

    [Fact]
    public async Task Run_verb_starts_the_cluster_runs_a_pool_to_a_dataset_trains_and_evaluates_the_model_prints_the_summary_and_stops_everything()
    {
        var bench = Path.Combine(_dataDir, "bench");
        WritePope(Path.Combine(bench, "pope"));
        var pool = Path.Combine(_dataDir, "pool.json");
        var captions = Enumerable.Range(0, 8).Select(i => new { id = $"c{i}", caption = $"a yellow kite number {i} flying over a green hill on a windy afternoon" }).ToList();
        captions.Add(new { id = "c3", caption = "a duplicate id that must be dropped with its reason" });
        await File.WriteAllTextAsync(pool, System.Text.Json.JsonSerializer.Serialize(captions));
        var output = Path.Combine(_dataDir, "dataset");

        var result = await ChildProcess.RunAsync("dotnet",
            [AppHostDll(), "run", "--captions", pool, "--out", output, "--top-k", "3", "--variants", "1", "--steps", "2", "--size", "32x32", "--run-id", "apphost-run", "--data-dir", _dataDir, "--dashboard-port", "0", "--otlp-port", "0",
             "--train", "--train-batch", "1", "--eval", bench, "--eval-only", "pope"],
            TimeSpan.FromMinutes(8));

        var text = result.StandardOutput + result.StandardError;
        result.ExitCode.Should().Be(0, text);
        text.Should().Contain("Login to the dashboard at http://127.0.0.1:").And.Contain("COMPLETED").And.Contain(output)
            .And.Contain("| selected | 3 |").And.Contain("Stopped 9 processes");
        // --train: TrainingService trains the tiny LLaVA's projector on the 3 pairs, one sample a step.
        var stage1 = Path.Combine(_dataDir, "training", "runs", "apphost-run", "stage1");
        text.Should().Contain("[train] step 3/3").And.Contain("training: stage 1 SUCCEEDED, 3 steps").And.MatchRegex(@"losses:   \d\.\d{4} → \d\.\d{4} \(lowest \d\.\d{4}\) over 3 steps")
            .And.Contain($"model:    {Path.Combine(stage1, "model")}").And.Contain(Path.Combine(stage1, "loss.svg"));
        File.Exists(Path.Combine(stage1, "mm_projector.bin")).Should().BeTrue("stage 1 writes the projector LLaVA's stage 2 starts from");
        File.Exists(Path.Combine(stage1, "model", "config.json")).Should().BeTrue();
        File.Exists(Path.Combine(_dataDir, "models", "tiny", "llava", "model.safetensors")).Should().BeTrue("no base model was configured, so the tiny LLaVA was written");
        // --eval: EvalService answers the 3 POPE questions with the trained model and the table is printed.
        text.Should().Contain("eval:     SUCCEEDED, 1 benchmarks scored").And.Contain("| Model | POPE |").And.Contain("| apphost-run stage 1 |");
        File.ReadAllLines(Path.Combine(_dataDir, "evaluations", "runs", "apphost-run", "pope", "answers.jsonl")).Should().HaveCount(3);
        var llava = System.Text.Json.JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(output, "llava.json"))).RootElement;
        llava.GetArrayLength().Should().Be(3);
        File.Exists(Path.Combine(_dataDir, "apphost.json")).Should().BeFalse("a run that started its own cluster leaves no running-cluster file");
        // Service output went to the logs folder, one file per replica.
        Directory.GetFiles(Path.Combine(_dataDir, "logs"), "*.log").Should().HaveCount(9);
        File.Exists(Path.Combine(_dataDir, "redis", "appendonlydir", "appendonly.aof.manifest")).Should().BeTrue("Redis runs with AOF in the data folder");
    }

    /// <summary>POPE in LLaVA's layout, one question per split, with PNGs from the VLM fixtures.</summary>
    private static string WritePope(string folder)
    {
        string[] splits = ["adversarial", "popular", "random"];
        var images = Directory.GetFiles(Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Vlm.Tests", "Fixtures", "llava_images"), "*.png").Order(StringComparer.Ordinal).ToList();
        Directory.CreateDirectory(Path.Combine(folder, "coco"));
        Directory.CreateDirectory(Path.Combine(folder, "val2014"));
        var questions = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var image = $"COCO_val2014_{i:D12}.png";
            File.Copy(images[i], Path.Combine(folder, "val2014", image));
            questions.Add(System.Text.Json.JsonSerializer.Serialize(new { question_id = i + 1, image, text = "Is there a kite in the image?\nAnswer the question using a single word or phrase.", category = splits[i] }));
            File.WriteAllText(Path.Combine(folder, "coco", $"coco_pope_{splits[i]}.json"), System.Text.Json.JsonSerializer.Serialize(new { question_id = i + 1, image, label = "yes" }) + "\n");
        }
        File.WriteAllLines(Path.Combine(folder, "llava_pope_test.jsonl"), questions);
        return folder;
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
    public async Task Without_redis_server_the_apphost_says_how_to_install_it_or_use_an_existing_one()
    {
        // A machine without it: the binary the AppHost is told to run does not exist.
        var missing = Path.Combine(_dataDir, "missing", "redis-server");
        await using var apphost = AppHostProcess.Start(typeof(AppHostProcessTests).Assembly,
            ["--data-dir", _dataDir, "--dashboard-port", "0", "--otlp-port", "0", "--redis-mode", "executable"],
            new Dictionary<string, string> { [RedisServerBinary.Env] = missing });
        await apphost.ExitedAsync(TimeSpan.FromSeconds(60));

        apphost.ExitCode.Should().Be(2);
        apphost.Output.Should().Contain(missing).And.Contain("apt-get install redis-server").And.Contain("--redis host:port", apphost.Output);
    }

    [Fact]
    public async Task A_service_that_fails_at_start_is_given_up_with_its_last_lines_and_the_others_keep_running()
    {
        var missing = Path.Combine(_dataDir, "no-such-clip-model");
        // Only the scoring service reads this key (replicas inherit the AppHost's environment): its
        // model folder does not exist, so it exits at start, every time.
        await using var apphost = AppHostProcess.Start(typeof(AppHostProcessTests).Assembly,
            ["--data-dir", _dataDir, "--dashboard-port", "0", "--otlp-port", "0"],
            new Dictionary<string, string> { ["SynthVlm__Scoring__ClipModel"] = missing });
        await apphost.WaitForAsync("Press Ctrl+C to stop.", TimeSpan.FromMinutes(4));

        apphost.Output.Should().Contain("Running with unhealthy resources: scoring")
            .And.Contain($"restarts without ever becoming healthy; it stays stopped")
            .And.Contain(missing);
        var healthy = apphost.HealthyPids();
        healthy.Keys.Select(k => k[..k.LastIndexOf('-')]).Should().BeEquivalentTo(["redis", "curation", "diffusion", "selection", "training", "eval", "recaption", "web"]);
        var scoringLog = Directory.GetFiles(Path.Combine(_dataDir, "logs"), "scoring-*.log").Single();
        (await File.ReadAllTextAsync(scoringLog)).Should().Contain(missing);

        await apphost.InterruptAsync(TimeSpan.FromSeconds(90));
        apphost.ExitCode.Should().Be(1, "the cluster ran with an unhealthy resource");
        await TestTimeout.Until(() => healthy.Values.All(pid => !Directory.Exists($"/proc/{pid}")), TimeSpan.FromSeconds(30), "every replica gone");
    }

    [Fact]
    public async Task An_unreachable_otlp_collector_does_not_stop_the_services()
    {
        await using var apphost = AppHostProcess.Start(typeof(AppHostProcessTests).Assembly,
            ["--data-dir", _dataDir, "--otlp", "http://127.0.0.1:1", "--no-dashboard", "--exit-when-healthy"]);
        await apphost.ExitedAsync(TimeSpan.FromMinutes(4));

        apphost.ExitCode.Should().Be(0, apphost.Output);
        apphost.Output.Should().Contain("All 9 resources healthy").And.NotContain("Dashboard:").And.NotContain("Login to the dashboard");
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
