using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using FluentAssertions;
using SynthVlm.Datasets;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Testing;
using SynthVlm.Vlm.Tiny;
using Xunit;

namespace SynthVlm.Cli.Tests;

/// <summary>
/// `synthvlm train` as the built tool on the tiny model's parts (a CLIP folder and a LLaMA folder):
/// stage 1 from the parts, stage 2 from the parts and stage 1's projector, a job killed with
/// SIGKILL and run again, a SynthVlm dataset folder as written by the selection service, bad input.
/// </summary>
public sealed class TrainCommandsTests : IDisposable
{
    private static readonly string[] Captions = ["A red bird on a snowy mountain.", "A blue boat near a small shop.", "Two cats sit on a green field.", "An old bridge at dawn."];
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cli-train-").FullName;
    private readonly string _vision;
    private readonly string _llama;

    public TrainCommandsTests()
    {
        (_vision, _llama) = TinyLlava.WriteParts(Path.Combine(_dir, "base"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string ToolPath()
    {
        var configuration = typeof(TrainCommandsTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        return Path.Combine(RepoPaths.Root, "Cli", "bin", configuration, "net10.0", "synthvlm.dll");
    }

    private static byte[] Png(int index)
    {
        using var image = RgbImage.Allocate(30 + (index * 3), 24 + (index * 5));
        var px = image.Pixels;
        for (var p = 0; p < px.Length; p++)
        {
            px[p] = (byte)((p * (index + 3)) >> 2);
        }
        return ImageCodec.Encode(image, ImageFormat.Png);
    }

    /// <summary>A folder with one LLaVA JSON (data.json) of <paramref name="count"/> samples and their images.</summary>
    private string Dataset(string name, int count, bool instruction)
    {
        var folder = Path.Combine(_dir, name);
        Directory.CreateDirectory(folder);
        var samples = new List<object>();
        for (var i = 0; i < count; i++)
        {
            File.WriteAllBytes(Path.Combine(folder, $"{i}.png"), Png(i));
            var prompt = instruction ? "What is in the picture?\n<image>" : "<image>\nDescribe the image briefly.";
            samples.Add(new { id = $"s{i}", image = $"{i}.png", conversations = new[] { new { from = "human", value = prompt }, new { from = "gpt", value = Captions[i % Captions.Length] } } });
        }
        File.WriteAllText(Path.Combine(folder, "data.json"), JsonSerializer.Serialize(samples));
        return folder;
    }

    private string Out(string name) => Path.Combine(_dir, name);

    private string[] Parts => ["--vision", _vision, "--llm", _llama];

    /// <summary>The step lines (step, loss, lr, samples_per_s) and the checkpoint of a `--json` run.</summary>
    private static (List<(int Step, double Loss)> Steps, string Checkpoint) Parse(IReadOnlyList<string> lines)
    {
        lines.Should().NotBeEmpty();
        var steps = new List<(int, double)>();
        var peak = 0.0;
        foreach (var line in lines.SkipLast(1))
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            // Hugging Face's warm-up starts at 0: the first step of a warm-up runs at lr 0.
            root.GetProperty("lr").GetDouble().Should().BeGreaterThanOrEqualTo(0, line);
            peak = Math.Max(peak, root.GetProperty("lr").GetDouble());
            root.GetProperty("samples_per_s").GetDouble().Should().BePositive(line);
            steps.Add((root.GetProperty("step").GetInt32(), root.GetProperty("loss").GetDouble()));
        }
        steps.Should().Contain(s => s.Item1 > 1, "a job of one step proves little");
        peak.Should().BePositive("the schedule rises after the warm-up");
        using var last = JsonDocument.Parse(lines[^1]);
        return (steps, last.RootElement.GetProperty("checkpoint").GetString()!);
    }

    private static List<double> LoggedLosses(string output) =>
        File.ReadAllLines(Path.Combine(output, "trainer_log.jsonl")).Select(l =>
        {
            using var doc = JsonDocument.Parse(l);
            return doc.RootElement.GetProperty("loss").GetDouble();
        }).ToList();

    [Fact]
    public async Task Stage1_from_a_CLIP_and_a_LLaMA_folder_then_LoRA_stage2_from_the_parts_and_the_stage1_projector_gives_a_model_that_answers()
    {
        var pretrain = Dataset("pretrain", 8, instruction: false);
        var instruct = Dataset("instruct", 8, instruction: true);
        var o1 = Out("o1");
        var o2 = Out("o2");

        var stage1 = await SynthVlmTool.RunAsync(["train", "--stage", "pretrain", "--data", pretrain, .. Parts, "--out", o1,
            "--batch-size", "4", "--micro-batch", "2", "--epochs", "3", "--lr", "5e-3", "--data-workers", "1", "--json"]);

        stage1.ExitCode.Should().Be(0, stage1.StandardError);
        var (steps1, checkpoint1) = Parse(stage1.Lines);
        steps1.Select(s => s.Step).Should().Equal(Enumerable.Range(1, 6), "8 samples in batches of 4, three epochs");
        steps1.TakeLast(2).Average(s => s.Loss).Should().BeLessThan(steps1.Take(2).Average(s => s.Loss), "the projector learns the captions");
        checkpoint1.Should().Be(Path.Combine(o1, "model"));
        File.Exists(Path.Combine(o1, "mm_projector.bin")).Should().BeTrue();
        LoggedLosses(o1).Should().Equal(steps1.Select(s => s.Loss));

        var stage2 = await SynthVlmTool.RunAsync(["train", "--stage", "finetune", "--data", instruct, .. Parts, "--projector", o1, "--out", o2,
            "--batch-size", "4", "--micro-batch", "2", "--epochs", "2", "--lr", "5e-3", "--lora-r", "4", "--lora-alpha", "8", "--data-workers", "1", "--json"]);

        stage2.ExitCode.Should().Be(0, stage2.StandardError);
        var (steps2, checkpoint2) = Parse(stage2.Lines);
        steps2.Select(s => s.Step).Should().Equal(Enumerable.Range(1, 4));
        checkpoint2.Should().Be(Path.Combine(o2, "model"));
        File.Exists(Path.Combine(o2, "adapter", "adapter_config.json")).Should().BeTrue();
        File.Exists(Path.Combine(o2, "adapter", "adapter_model.safetensors")).Should().BeTrue();
        using (var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(o2, "report.json"))))
        {
            report.RootElement.GetProperty("stage").GetString().Should().Be("finetune");
            report.RootElement.GetProperty("lora_rank").GetInt32().Should().Be(4);
        }

        var answer = await SynthVlmTool.RunAsync("vlm", "generate", "--model", Path.Combine(o2, "model"), "--image", Path.Combine(instruct, "1.png"),
            "--prompt", "What is in the picture?", "--max-new-tokens", "4");

        answer.ExitCode.Should().Be(0, answer.StandardError);
        using var doc = JsonDocument.Parse(answer.Lines.Single());
        doc.RootElement.GetProperty("ids").GetArrayLength().Should().BeInRange(1, 4);
        doc.RootElement.GetProperty("text").GetString().Should().NotBeNull();
    }

    [Fact]
    public async Task A_LoRA_job_killed_with_SIGKILL_after_step_5_continues_from_its_last_checkpoint_with_the_uninterrupted_runs_losses()
    {
        var instruct = Dataset("instruct", 8, instruction: true);
        // Stage 2 keeps LoRA dropout (0.05), so equal losses also prove the dropout masks are drawn again.
        string[] Args(string output) => ["train", "--stage", "finetune", "--data", instruct, .. Parts, "--out", output,
            "--batch-size", "4", "--micro-batch", "2", "--epochs", "6", "--lr", "5e-3", "--lora-r", "4", "--lora-alpha", "8",
            "--save-every", "2", "--seed", "7", "--data-workers", "1", "--json"];

        var whole = await SynthVlmTool.RunAsync(Args(Out("whole")));
        whole.ExitCode.Should().Be(0, whole.StandardError);
        var (wholeSteps, _) = Parse(whole.Lines);
        wholeSteps.Select(s => s.Step).Should().Equal(Enumerable.Range(1, 12), "8 samples in batches of 4, six epochs");

        // SIGKILL follows the step-5 line at once, but a loaded machine may run the reader late: the tool can then
        // save later checkpoints, or even finish, before the kill lands. Seven steps after the line leave a wide
        // margin; a tool that still finished first is run again in a fresh folder (the kill is what is under test).
        string? output = null;
        for (var attempt = 1; attempt <= 3 && output is null; attempt++)
        {
            var folder = Out($"resumed-{attempt}");
            var (killed, killedFirst) = await RunUntilLineThenKillAsync(Args(folder), line => line.StartsWith("{\"step\":5,", StringComparison.Ordinal));
            killed.Should().Contain(l => l.StartsWith("{\"step\":5,", StringComparison.Ordinal));
            if (killedFirst)
            {
                killed.Should().NotContain(l => l.Contains("checkpoint", StringComparison.Ordinal), "the job died before its end");
                output = folder;
            }
        }
        output.Should().NotBeNull("one of three runs is killed before it ends");
        var latest = File.ReadAllText(Path.Combine(output!, "checkpoints", "latest")).Trim();
        latest.Should().MatchRegex("^step-000000(04|06|08|10|12)$", "checkpoints every 2 steps, the kill after step 5 (a very late one may find step 12 saved: nothing is left to resume then)");
        var from = int.Parse(latest["step-".Length..], System.Globalization.CultureInfo.InvariantCulture) + 1;

        var resumed = await SynthVlmTool.RunAsync(Args(output!));

        resumed.ExitCode.Should().Be(0, resumed.StandardError);
        var (resumedSteps, _) = Parse(resumed.Lines);
        resumedSteps.Select(s => s.Step).Should().Equal(Enumerable.Range(from, 13 - from), "the steps after the checkpoint are run again");
        resumedSteps.Select(s => s.Loss).Should().Equal(wholeSteps.Skip(from - 1).Select(s => s.Loss));
        LoggedLosses(output!).Should().Equal(LoggedLosses(Out("whole")), "the interrupted and resumed job's curve is the uninterrupted one, exactly");
        LoggedLosses(Out("whole")).Should().Equal(wholeSteps.Select(s => s.Loss));
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(output!, "report.json")));
        report.RootElement.GetProperty("losses").EnumerateArray().Select(e => e.GetDouble()).Should().Equal(wholeSteps.Select(s => s.Loss));
    }

    [Fact]
    public async Task A_dataset_folder_written_by_the_selection_services_writer_trains_stage1_as_it_is()
    {
        const int Count = 8;
        var items = Enumerable.Range(0, Count).Select(i => new DatasetItem
        {
            Id = $"cap-{i:D3}",
            Caption = Captions[i % Captions.Length],
            ImageKey = $"runs/r/images/{i}/0.png",
            Variant = 0,
            Seed = (ulong)(i + 1),
            Clip = 0.3 - (0.01 * i),
            Ssim = 0.2,
            Weighted = 0.4 - (0.01 * i),
            Lambda = 0.5,
        }).ToList();
        var statistics = new ScoreStatistics(0.5);
        items.ForEach(i => statistics.Add(i.Clip, i.Ssim, i.Weighted));
        var run = new DatasetRunInfo { RunId = "run-train", Lambda = 0.5, SelectionRule = "top 8 of 8" };
        var dataset = Path.Combine(_dir, "dataset");
        var written = await DatasetWriter.WriteAsync(dataset, run, Stream(items), statistics,
            (key, _) => ValueTask.FromResult(Png(int.Parse(key.Split('/')[3], System.Globalization.CultureInfo.InvariantCulture))), DatasetOptions.Default, CancellationToken.None);
        written.Count.Should().Be(Count);
        File.Exists(Path.Combine(dataset, DatasetLayout.LlavaJson)).Should().BeTrue();
        File.Exists(Path.Combine(dataset, DatasetLayout.Marker)).Should().BeTrue("the folder also holds the marker, a JSON object, which is not taken for data");

        var result = await SynthVlmTool.RunAsync(["train", "--stage", "pretrain", "--data", dataset, .. Parts, "--out", Out("o"),
            "--batch-size", "4", "--micro-batch", "2", "--epochs", "2", "--lr", "5e-3", "--data-workers", "1", "--json"]);

        result.ExitCode.Should().Be(0, result.StandardError);
        var (steps, _) = Parse(result.Lines);
        steps.Select(s => s.Step).Should().Equal(Enumerable.Range(1, 4), "8 samples, batches of 4, two epochs");
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(Out("o"), "report.json")));
        var data = report.RootElement.GetProperty("data")[0];
        data.GetProperty("data").GetString().Should().Be(Path.Combine(dataset, DatasetLayout.LlavaJson));
        data.GetProperty("images").GetString().Should().Be(dataset);
        report.RootElement.GetProperty("skipped").GetArrayLength().Should().Be(0, "every image under images/ is found from the folder");
        File.Exists(Path.Combine(Out("o"), "mm_projector.bin")).Should().BeTrue();
    }

    [Fact]
    public async Task Bad_input_is_refused_with_the_exit_code_and_a_message_that_names_it()
    {
        var data = Dataset("small", 2, instruction: false);
        var missing = Path.Combine(_dir, "no-such-data");

        var stage = await SynthVlmTool.RunAsync(["train", "--stage", "x", "--data", data, .. Parts, "--out", Out("a")]);
        var noData = await SynthVlmTool.RunAsync(["train", "--stage", "pretrain", "--data", missing, .. Parts, "--out", Out("b")]);
        var both = await SynthVlmTool.RunAsync(["train", "--stage", "pretrain", "--data", data, "--model", _llama, .. Parts, "--out", Out("c")]);
        var notLlama = await SynthVlmTool.RunAsync(["train", "--stage", "pretrain", "--data", data, "--vision", _vision, "--llm", _vision, "--out", Out("d")]);

        stage.ExitCode.Should().Be(2, stage.StandardError);
        stage.StandardError.Should().Contain("--stage").And.Contain("'x'");
        noData.ExitCode.Should().Be(1, noData.StandardError);
        noData.StandardError.Should().Contain(missing);
        both.ExitCode.Should().Be(2, both.StandardError);
        both.StandardError.Should().Contain("--model").And.Contain("--vision");
        notLlama.ExitCode.Should().Be(1, notLlama.StandardError);
        notLlama.StandardError.Should().Contain(Path.Combine(_vision, "config.json")).And.Contain("llama");
        foreach (var output in new[] { "a", "b", "c" })
        {
            Directory.Exists(Out(output)).Should().BeFalse($"nothing is written for refused input ({output})");
        }
    }

    private static async IAsyncEnumerable<DatasetItem> Stream(IEnumerable<DatasetItem> items, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var item in items)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await Task.Yield();
            yield return item;
        }
    }

    /// <summary>
    /// Starts the tool, reads its stdout line by line as it comes, and kills it (SIGKILL) from the
    /// reader as soon as a line matches, without waiting for anything else; returns the lines read and whether
    /// the kill ended it (false: it had exited by itself first).
    /// </summary>
    private static async Task<(List<string> Lines, bool KilledFirst)> RunUntilLineThenKillAsync(string[] args, Func<string, bool> stopAt)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(ToolPath());
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        using var process = new Process { StartInfo = info };
        var lines = new List<string>();
        var stderr = new StringBuilder();
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (stderr) { stderr.AppendLine(e.Data); } } };
        process.Start();
        process.BeginErrorReadLine();
        var killed = false;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                lines.Add(line);
                if (stopAt(line))
                {
                    // Process.Kill is SIGKILL on Linux: no handler, no finally block runs in the child.
                    process.Kill();
                    killed = true;
                    break;
                }
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
            await process.WaitForExitAsync();
        }
        killed.Should().BeTrue($"the tool printed no matching line before it exited ({process.ExitCode}):\n{string.Join('\n', lines)}\n{stderr}");
        if (process.ExitCode == 0)
        {
            return (lines, false);
        }
        process.ExitCode.Should().Be(137, "128 + SIGKILL");
        return (lines, true);
    }
}
