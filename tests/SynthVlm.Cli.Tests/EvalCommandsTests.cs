using System.Text.Json;
using System.Text.Json.Nodes;
using FluentAssertions;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Cli.Tests;

/// <summary>
/// `synthvlm eval` as the built tool: the tiny LLaVA on a tiny POPE + MM-Vet set written here with
/// a fake OpenAI-compatible server (real HTTP) as MM-Vet's grader; an endpoint as the model under
/// test, whose re-run is answered from the cache; `eval score` on answers with a malformed line;
/// `eval compare` (Table 2) with the fake server as the judge; `eval report`; bad usage.
/// </summary>
public sealed class EvalCommandsTests : IDisposable
{
    private static readonly string TinyModel = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Vlm.Tests", "Fixtures", "tiny-llava-hf");
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cli-eval-").FullName;

    private string Bench => Path.Combine(_dir, "bench");

    public EvalCommandsTests()
    {
        WritePope(Path.Combine(Bench, "pope"));
        WriteMmVet(Path.Combine(Bench, "mm-vet"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void Image(string path, int seed)
    {
        using var image = RgbImage.Allocate(20 + seed, 18 + (2 * seed));
        var px = image.Pixels;
        for (var i = 0; i < px.Length; i++)
        {
            px[i] = (byte)((i * (seed + 5)) >> 2);
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        ImageCodec.EncodeFile(image, path);
    }

    /// <summary>POPE: one question per split, labels yes, no, yes.</summary>
    private static void WritePope(string folder)
    {
        string[] splits = ["adversarial", "popular", "random"];
        var questions = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var image = $"COCO_val2014_{i:D12}.png";
            Image(Path.Combine(folder, "val2014", image), i);
            questions.Add(JsonSerializer.Serialize(new { question_id = i + 1, image, text = "Is there a cat in the image?\nAnswer the question using a single word or phrase.", category = splits[i] }));
            Directory.CreateDirectory(Path.Combine(folder, "coco"));
            File.WriteAllText(Path.Combine(folder, "coco", $"coco_pope_{splits[i]}.json"), JsonSerializer.Serialize(new { question_id = i + 1, image, label = i == 1 ? "no" : "yes" }) + "\n");
        }
        File.WriteAllLines(Path.Combine(folder, "llava_pope_test.jsonl"), questions);
    }

    /// <summary>MM-Vet: two items (mm-vet.json and images/), no LLaVA question file.</summary>
    private static void WriteMmVet(string folder)
    {
        var meta = new JsonObject
        {
            ["v1_0"] = new JsonObject { ["imagename"] = "v1_0.png", ["capability"] = new JsonArray("rec", "ocr"), ["question"] = "What is written here?", ["answer"] = "stop" },
            ["v1_1"] = new JsonObject { ["imagename"] = "v1_1.png", ["capability"] = new JsonArray("math"), ["question"] = "How many dots?", ["answer"] = "3" },
        };
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "mm-vet.json"), meta.ToJsonString());
        Image(Path.Combine(folder, "images", "v1_0.png"), 1);
        Image(Path.Combine(folder, "images", "v1_1.png"), 2);
    }

    [Fact]
    public async Task The_tiny_model_is_evaluated_on_POPE_and_MM_Vet_with_a_fake_endpoint_as_the_grader()
    {
        // The grader gives the first item 1.0 and the second 0.0 (MM-Vet's prompt ends with the item's question, answer and prediction).
        await using var grader = new FakeChatServer(r => FakeChatReply.Answer(r.LastText.Contains("What is written here?", StringComparison.Ordinal) ? "1.0" : "0.0"));
        var output = Path.Combine(_dir, "out");

        var result = await SynthVlmTool.RunAsync(["eval", "--model", TinyModel, "--bench", Bench, "--out", output, "--batch", "2",
            "--judge", grader.BaseUri.ToString(), "--judge-model", "gpt-4-0613", "--json"]);

        result.ExitCode.Should().Be(0, result.StandardError);
        var summary = JsonNode.Parse(result.StandardOutput)!;
        summary["model"]!.GetValue<string>().Should().Be("tiny-llava-hf");
        summary["benchmarks"]!.AsObject().Select(b => b.Key).Should().BeEquivalentTo(["pope", "mmvet"], "every benchmark whose folder exists");
        var mmvet = summary["benchmarks"]!["mmvet"]!["metrics"]!;
        mmvet["total"]!.GetValue<double>().Should().Be(50.0, "one of two items graded 1.0");
        grader.Requests.Should().HaveCount(2).And.OnlyContain(r => r.Model == "gpt-4-0613" && r.Temperature == 0);
        summary["benchmarks"]!["pope"]!["metrics"]!["random"]!["accuracy"].Should().NotBeNull();
        File.ReadAllLines(Path.Combine(output, "pope", "answers.jsonl")).Should().HaveCount(3);
        File.ReadAllLines(Path.Combine(output, "mmvet", "answers.jsonl")).Should().HaveCount(2);

        // Scoring again from the same folder asks neither the model nor the grader (answers reused, grades cached).
        var again = await SynthVlmTool.RunAsync(["eval", "--model", TinyModel, "--bench", Bench, "--out", output, "--only", "mmvet",
            "--judge", grader.BaseUri.ToString(), "--judge-model", "gpt-4-0613"]);
        again.ExitCode.Should().Be(0, again.StandardError);
        again.StandardOutput.Should().Contain("| Model | MM-Vet |").And.Contain("| tiny-llava-hf | 50.0 |");
        grader.Requests.Should().HaveCount(2);
    }

    [Fact]
    public async Task An_endpoint_is_the_model_under_test_and_a_rerun_is_answered_from_its_cache()
    {
        await using var endpoint = new FakeChatServer(_ => FakeChatReply.Answer("Yes, there is a cat."));
        var output = Path.Combine(_dir, "endpoint");
        string[] args = ["eval", "--endpoint", endpoint.BaseUri.ToString(), "--endpoint-model", "qwen2-vl-7b", "--bench", Bench, "--only", "pope", "--out", output, "--json"];

        var first = await SynthVlmTool.RunAsync(args);

        first.ExitCode.Should().Be(0, first.StandardError);
        endpoint.Requests.Should().HaveCount(3);
        foreach (var request in endpoint.Requests)
        {
            request.Model.Should().Be("qwen2-vl-7b");
            request.Messages[^1].ImageUrls.Should().ContainSingle().Which.Should().StartWith("data:image/png;base64,");
        }
        var metrics = JsonNode.Parse(first.StandardOutput)!["benchmarks"]!["pope"]!["metrics"]!;
        metrics["popular"]!["accuracy"]!.GetValue<double>().Should().Be(0, "'Yes, there is a cat.' parses as yes and popular's label is no");
        metrics["random"]!["accuracy"]!.GetValue<double>().Should().Be(1);

        Directory.Delete(Path.Combine(output, "pope"), recursive: true);
        var second = await SynthVlmTool.RunAsync(args);
        second.ExitCode.Should().Be(0, second.StandardError);
        endpoint.Requests.Should().HaveCount(3, "the answers folder was deleted but the replies are cached by model, prompt and image hash");
        JsonNode.Parse(second.StandardOutput)!["benchmarks"]!["pope"]!["metrics"]!.ToJsonString().Should().Be(metrics.ToJsonString());
    }

    [Fact]
    public async Task Score_reports_a_malformed_line_and_prints_the_official_metrics_of_the_rest()
    {
        var answers = Path.Combine(_dir, "answers.jsonl");
        File.WriteAllLines(answers, ["""{"question_id": 1, "text": "Yes"}""", "{broken", """{"question_id": 2, "text": "No"}""", """{"question_id": 3, "text": "no"}"""]);

        var result = await SynthVlmTool.RunAsync(["eval", "score", "--bench", "pope", "--data", Path.Combine(Bench, "pope"), "--answers", answers]);

        result.ExitCode.Should().Be(0, result.StandardError);
        result.StandardError.Should().Contain($"{answers}:2: not JSON").And.Contain("1 lines skipped");
        var metrics = JsonNode.Parse(result.StandardOutput)!.AsObject();
        metrics.Select(m => m.Key).Should().BeEquivalentTo(["adversarial", "popular", "random"]);
        metrics["adversarial"]!["accuracy"]!.GetValue<double>().Should().Be(1);
        metrics["random"]!["accuracy"]!.GetValue<double>().Should().Be(0);
        metrics["random"]!.AsObject().Select(m => m.Key).Should().Contain(["accuracy", "precision", "recall", "f1", "yes_ratio"]);
    }

    [Fact]
    public async Task Compare_judges_two_datasets_in_both_orders_and_report_makes_the_table_of_two_summaries()
    {
        string Dataset(string name, string caption)
        {
            var folder = Path.Combine(_dir, name);
            var items = Enumerable.Range(0, 4).Select(i =>
            {
                Image(Path.Combine(folder, $"{i}.png"), i + (name == "a" ? 0 : 10));
                return new { id = $"s{i}", image = $"{i}.png", conversations = new[] { new { from = "human", value = "<image>\nDescribe." }, new { from = "gpt", value = $"{caption} {i}" } } };
            });
            File.WriteAllText(Path.Combine(folder, "llava.json"), JsonSerializer.Serialize(items.ToList()));
            return folder;
        }
        var a = Dataset("a", "a synthetic caption");
        var b = Dataset("b", "an original caption");
        // A judge that prefers the pair whose caption says "synthetic", wherever it is shown.
        await using var judge = new FakeChatServer(r =>
        {
            var text = r.LastText;
            var first = text.IndexOf("synthetic", StringComparison.Ordinal) < text.IndexOf("original", StringComparison.Ordinal);
            return FakeChatReply.Answer(first ? "1" : "2");
        });
        var result = await SynthVlmTool.RunAsync(["eval", "compare", "--a", a, "--b", b, "--judge", judge.BaseUri.ToString(), "--judge-model", "judge-vlm", "--sample", "4", "--out", Path.Combine(_dir, "table2.json")]);

        result.ExitCode.Should().Be(0, result.StandardError);
        var json = JsonNode.Parse(result.StandardOutput)!;
        json["win"]!["count"]!.GetValue<int>().Should().Be(4);
        json["loss"]!["count"]!.GetValue<int>().Should().Be(0);
        json["first_position"]!["rate"]!.GetValue<double>().Should().Be(0.5, "the judge follows the caption, not the position");
        judge.Requests.Should().HaveCount(8, "each of 4 items in both orders");
        File.Exists(Path.Combine(_dir, "table2.json")).Should().BeTrue();

        var s1 = Summary("base", 80.0);
        var s2 = Summary("synthetic", 82.5);
        var report = await SynthVlmTool.RunAsync(["eval", "report", "--summaries", $"{s1},{s2}", "--out", Path.Combine(_dir, "report")]);
        report.ExitCode.Should().Be(0, report.StandardError);
        report.StandardOutput.Should().Contain("| Model | VQAv2 |").And.Contain("| synthetic | **82.5** |").And.Contain("| Δ synthetic − base | +2.5 |");
        File.ReadAllText(Path.Combine(_dir, "report", "report.svg")).Should().StartWith("<svg").And.Contain("VQAv2");
    }

    [Theory]
    [InlineData("eval --bench /nowhere --out /tmp/x", 2, "give --model CKPT")]
    [InlineData("eval score --bench imagenet --data /tmp --answers /tmp/a.jsonl", 2, "'imagenet' is not a benchmark")]
    [InlineData("eval score --bench pope --data /nonexistent --answers /nonexistent/a.jsonl", 1, "answers file /nonexistent/a.jsonl does not exist")]
    public async Task Bad_usage_is_one_clear_line_with_the_exit_code(string commandLine, int exitCode, string message)
    {
        var result = await SynthVlmTool.RunAsync(commandLine.Split(' '));

        result.ExitCode.Should().Be(exitCode, result.StandardError);
        result.StandardError.Should().Contain(message);
    }

    private string Summary(string model, double vqav2)
    {
        var path = Path.Combine(_dir, model + ".json");
        File.WriteAllText(path, new JsonObject { ["model"] = model, ["benchmarks"] = new JsonObject { ["vqav2"] = new JsonObject { ["metrics"] = new JsonObject { ["overall"] = vqav2 } } } }.ToJsonString());
        return path;
    }
}
