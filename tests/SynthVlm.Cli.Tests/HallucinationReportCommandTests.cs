using System.Text.Json;
using System.Text.Json.Nodes;
using FluentAssertions;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Cli.Tests;

/// <summary>
/// `synthvlm hallucination report` as the built tool: the tiny in-process LLaVA captions four images and the report's
/// CHAIR, judged rate (a fake judge, real HTTP) and POPE equal what `synthvlm hallucination --captions` and
/// `synthvlm eval --only pope` give on the same captions and model; an endpoint captioner with scripted captions gives
/// non-trivial CHAIR and a judge answering garbage for one caption (unjudged, counted); bad input (no metric, a
/// missing annotations folder, both captioners) is refused before any captioning.
/// </summary>
public sealed class HallucinationReportCommandTests : IDisposable
{
    private static readonly string TinyModel = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Vlm.Tests", "Fixtures", "tiny-llava-hf");
    private static readonly string Annotations = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Hallucination.Tests", "Fixtures", "chair", "annotations");
    private static readonly string[] ImageNames = ["101", "COCO_val2014_000000000102", "103", "other"];
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cli-hallucination-report-").FullName;

    public HallucinationReportCommandTests()
    {
        for (var i = 0; i < ImageNames.Length; i++)
        {
            Image(Path.Combine(Images, ImageNames[i] + ".png"), i);
        }
        WritePope(Path.Combine(Bench, "pope"));
    }

    private string Images => Path.Combine(_dir, "images");

    private string Bench => Path.Combine(_dir, "bench");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void Image(string path, int seed)
    {
        using var image = RgbImage.Allocate(10 + seed, 8 + (2 * seed));
        var px = image.Pixels;
        for (var i = 0; i < px.Length; i++)
        {
            px[i] = (byte)((i * (seed + 3)) >> 1);
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        ImageCodec.EncodeFile(image, path);
    }

    /// <summary>POPE in LLaVA's layout: two questions per split, labels yes/no.</summary>
    private static void WritePope(string folder)
    {
        string[] splits = ["adversarial", "random"];
        var questions = new List<string>();
        Directory.CreateDirectory(Path.Combine(folder, "coco"));
        for (var s = 0; s < splits.Length; s++)
        {
            var labels = new List<string>();
            for (var q = 0; q < 2; q++)
            {
                var id = (s * 2) + q + 1;
                var image = $"COCO_val2014_{id:D12}.png";
                Image(Path.Combine(folder, "val2014", image), id);
                questions.Add(JsonSerializer.Serialize(new { question_id = id, image, text = "Is there a dog in the image?\nAnswer the question using a single word or phrase.", category = splits[s] }));
                labels.Add(JsonSerializer.Serialize(new { question_id = id, image, label = q == 0 ? "yes" : "no" }));
            }
            File.WriteAllLines(Path.Combine(folder, "coco", $"coco_pope_{splits[s]}.json"), labels);
        }
        File.WriteAllLines(Path.Combine(folder, "llava_pope_test.jsonl"), questions);
    }

    private static string? Quoted(string text, string marker)
    {
        var start = text.IndexOf(marker, StringComparison.Ordinal);
        if (start < 0)
        {
            return null;
        }
        start += marker.Length;
        var end = text.IndexOf("\"\n\n", start, StringComparison.Ordinal);
        return end < 0 ? null : text[start..end];
    }

    /// <summary>
    /// A judge with deterministic answers: a caption listed in <paramref name="garbage"/> (or, without a list, one whose
    /// length is divisible by 3) gets an unparseable extraction; the others two claims, of which "There is a dog." is rejected.
    /// </summary>
    private static FakeChatServer Judge(ISet<string>? garbage = null) => new(r =>
    {
        var text = r.LastText;
        if (Quoted(text, "Caption: \"") is { } caption)
        {
            return (garbage?.Contains(caption) ?? caption.Length % 3 == 0)
                ? FakeChatReply.Answer("I cannot help with that request, sorry.")
                : FakeChatReply.Answer(caption.Length % 2 == 0 ? "- There is a dog.\n- The image is grey." : "- The image is grey.");
        }
        return Quoted(text, "Statement: \"") is { } claim
            ? FakeChatReply.Answer(claim == "There is a dog." ? "No." : "Yes")
            : FakeChatReply.Error(400, "not a judge request");
    });

    private static void ShouldEqualNumber(JsonNode? actual, JsonNode? expected, string because)
    {
        if (expected is null)
        {
            actual.Should().BeNull(because);
            return;
        }
        actual!.GetValue<double>().Should().Be(expected.GetValue<double>(), because);
    }

    [Fact]
    public async Task The_tiny_in_process_captioners_report_equals_the_individual_commands_on_the_same_captions()
    {
        await using var judge = Judge();
        var report = Path.Combine(_dir, "out", "report.json");

        var result = await SynthVlmTool.RunAsync("hallucination", "report", "--images", Images, "--out", report, "--model", TinyModel,
            "--prompt-text", "Describe the image.", "--max-tokens", "6", "--batch", "2",
            "--annotations", Annotations, "--judge", judge.BaseUri.ToString(), "--judge-model", "fake-judge", "--pope", Path.Combine(Bench, "pope", "llava_pope_test.jsonl"));

        result.ExitCode.Should().Be(0, result.StandardError);
        var printed = JsonNode.Parse(result.Lines.Single())!;
        JsonNode.DeepEquals(printed, JsonNode.Parse(File.ReadAllText(report))).Should().BeTrue("stdout is the report file's JSON");
        File.ReadAllText(Path.Combine(_dir, "out", "report.md")).Should().Contain("| CHAIR_s |").And.Contain("| non-hallucination rate |").And.Contain("| POPE random accuracy |");
        printed["format"]!.GetValue<string>().Should().Be("synthvlm-hallucination-report");
        printed["checkpoint"]!["kind"]!.GetValue<string>().Should().Be("in-process");
        printed["checkpoint"]!["path"]!.GetValue<string>().Should().Be(TinyModel);
        printed["checkpoint"]!["sha256"]!.GetValue<string>().Should().MatchRegex("^[0-9a-f]{64}$");
        printed["captioner"]!["model"]!.GetValue<string>().Should().Be("tiny-llava-hf");
        printed["captioner"]!["decoding"]!.GetValue<string>().Should().Be("greedy");
        printed["captioner"]!["prompt"]!.GetValue<string>().Should().Be("custom@1");
        printed["images"]!["count"]!.GetValue<int>().Should().Be(4);
        var captioned = printed["images"]!["captioned"]!.GetValue<int>();
        (captioned + printed["images"]!["empty_captions"]!.GetValue<int>()).Should().Be(4);
        var captions = printed["captions_file"]!.GetValue<string>();
        captions.Should().Be(Path.Combine(_dir, "out", "report.captions.jsonl"));
        File.ReadAllLines(captions).Should().HaveCount(captioned);
        var metrics = printed["metrics"]!;

        var chair = await SynthVlmTool.RunAsync("hallucination", "--captions", captions, "--annotations", Annotations);
        chair.ExitCode.Should().Be(0, chair.StandardError);
        var chairJson = JsonNode.Parse(chair.StandardOutput)!;
        ShouldEqualNumber(metrics["chair"]!["chair_s"], chairJson["chair_s"], "CHAIR_s as the command computes it");
        ShouldEqualNumber(metrics["chair"]!["chair_i"], chairJson["chair_i"], "CHAIR_i as the command computes it");
        metrics["chair"]!["captions_scored"]!.GetValue<long>().Should().Be(chairJson["captions_scored"]!.GetValue<long>());
        metrics["chair"]!["object_mentions"]!.GetValue<long>().Should().Be(chairJson["object_mentions"]!.GetValue<long>());
        metrics["chair"]!["skipped"]!.GetValue<int>().Should().Be(chairJson["skipped"]!.GetValue<int>());

        var judged = await SynthVlmTool.RunAsync("hallucination", "--captions", captions, "--judge", judge.BaseUri.ToString(), "--judge-model", "fake-judge");
        judged.ExitCode.Should().Be(0, judged.StandardError);
        var judgedJson = JsonNode.Parse(judged.StandardOutput)!;
        var rate = metrics["non_hallucination_rate"]!;
        foreach (var field in new[] { "judged", "unjudged", "hallucination_free", "hallucinated", "claims", "rejected_claims" })
        {
            rate[field]!.GetValue<int>().Should().Be(judgedJson[field]!.GetValue<int>(), field);
        }
        ShouldEqualNumber(rate["rate"], judgedJson["rate"], "the rate as the command computes it");
        rate["wilson95"]!.ToJsonString().Should().Be(judgedJson["wilson95"]!.ToJsonString());
        rate["extraction_prompt"]!.GetValue<string>().Should().Be(judgedJson["extraction_prompt"]!.GetValue<string>());
        rate["verification_prompt"]!.GetValue<string>().Should().Be(judgedJson["verification_prompt"]!.GetValue<string>());

        var eval = await SynthVlmTool.RunAsync("eval", "--model", TinyModel, "--bench", Bench, "--only", "pope", "--out", Path.Combine(_dir, "eval"), "--batch", "2", "--json");
        eval.ExitCode.Should().Be(0, eval.StandardError);
        var evalMetrics = JsonNode.Parse(eval.StandardOutput)!["benchmarks"]!["pope"]!["metrics"]!;
        metrics["pope"]!["metrics"]!.ToJsonString().Should().Be(evalMetrics.ToJsonString(), "POPE runs through the same runner as synthvlm eval");
        metrics["pope"]!["metrics"]!["random"]!["accuracy"].Should().NotBeNull();
        File.Exists(metrics["pope"]!["answers_file"]!.GetValue<string>()).Should().BeTrue();
    }

    [Fact]
    public async Task An_endpoint_captioners_report_has_chair_and_a_judged_rate_with_the_judges_garbage_counted_as_unjudged()
    {
        var byImage = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["101"] = "A dog and a cat sit on a chair next to a man.",
            ["COCO_val2014_000000000102"] = "A toilet seat next to a sink. A person stands by the toilet.",
            ["103"] = "Two wine glasses beside hot dogs on the table.",
            ["other"] = string.Empty,
        };
        var byData = byImage.ToDictionary(p => "data:image/png;base64," + Convert.ToBase64String(File.ReadAllBytes(Path.Combine(Images, p.Key + ".png"))), p => p.Value, StringComparer.Ordinal);
        await using var captioner = new FakeChatServer(r => FakeChatReply.Answer(byData[r.Messages[^1].ImageUrls[0]]));
        await using var judge = Judge(new HashSet<string>(StringComparer.Ordinal) { byImage["103"] });
        var report = Path.Combine(_dir, "endpoint", "report.json");

        var result = await SynthVlmTool.RunAsync("hallucination", "report", "--images", Images, "--out", report, "--endpoint", captioner.BaseUri.ToString(),
            "--served-model", "qwen2-vl-7b", "--prompt", "brief", "--annotations", Annotations, "--judge", judge.BaseUri.ToString(), "--judge-model", "fake-judge");

        result.ExitCode.Should().Be(0, result.StandardError);
        var printed = JsonNode.Parse(result.StandardOutput)!;
        printed["checkpoint"]!.ToJsonString().Should().Be($"{{\"kind\":\"endpoint\",\"endpoint\":\"{captioner.BaseUri}\",\"served_model\":\"qwen2-vl-7b\"}}");
        captioner.Requests.Should().HaveCount(4).And.OnlyContain(r => r.Temperature == 0 && r.Model == "qwen2-vl-7b" && r.LastText.StartsWith("Describe this image in one or two sentences.", StringComparison.Ordinal));
        printed["captioner"]!["prompt"]!.GetValue<string>().Should().Be("brief@1");
        printed["images"]!["captioned"]!.GetValue<int>().Should().Be(3);
        printed["images"]!["empty_captions"]!.GetValue<int>().Should().Be(1, "the captioner's empty answer is recorded as such");
        var captions = printed["captions_file"]!.GetValue<string>();

        var chair = JsonNode.Parse((await SynthVlmTool.RunAsync("hallucination", "--captions", captions, "--annotations", Annotations)).StandardOutput)!;
        var metrics = printed["metrics"]!;
        metrics["chair"]!["chair_s"]!.GetValue<double>().Should().Be(chair["chair_s"]!.GetValue<double>()).And.BeGreaterThan(0);
        metrics["chair"]!["chair_i"]!.GetValue<double>().Should().Be(chair["chair_i"]!.GetValue<double>()).And.BeGreaterThan(0);
        metrics["chair"]!["captions_scored"]!.GetValue<long>().Should().Be(3);
        metrics["chair"]!["hallucinated_mentions"]!.GetValue<long>().Should().Be(chair["hallucinated_mentions"]!.GetValue<long>());

        var rate = metrics["non_hallucination_rate"]!;
        rate["unjudged"]!.GetValue<int>().Should().Be(1, "the judge's garbage for one caption leaves it unjudged");
        rate["unjudged_by_cause"]!.AsObject().Should().ContainSingle();
        rate["judged"]!.GetValue<int>().Should().Be(2);
        var judged = JsonNode.Parse((await SynthVlmTool.RunAsync("hallucination", "--captions", captions, "--judge", judge.BaseUri.ToString(), "--judge-model", "fake-judge")).StandardOutput)!;
        rate["rate"]!.GetValue<double>().Should().Be(judged["rate"]!.GetValue<double>());
        rate["unjudged"]!.GetValue<int>().Should().Be(judged["unjudged"]!.GetValue<int>());
        File.ReadAllLines(rate["records"]!.GetValue<string>()).Should().HaveCount(3);
        metrics.AsObject().Select(p => p.Key).Should().Equal("chair", "non_hallucination_rate");
    }

    [Fact]
    public async Task No_metric_requested_is_a_usage_error_naming_the_options()
    {
        var result = await SynthVlmTool.RunAsync("hallucination", "report", "--images", Images, "--out", Path.Combine(_dir, "r.json"), "--model", TinyModel);

        result.ExitCode.Should().Be(2);
        result.StandardError.Should().Contain("no metric requested").And.Contain("--annotations").And.Contain("--judge").And.Contain("--pope");
        File.Exists(Path.Combine(_dir, "r.json")).Should().BeFalse();
        File.Exists(Path.Combine(_dir, "r.captions.jsonl")).Should().BeFalse("nothing is captioned");
    }

    [Fact]
    public async Task A_missing_annotations_folder_is_an_input_error_before_any_captioning()
    {
        await using var captioner = new FakeChatServer(_ => FakeChatReply.Answer("A dog."));
        var missing = Path.Combine(_dir, "no-annotations");

        var result = await SynthVlmTool.RunAsync("hallucination", "report", "--images", Images, "--out", Path.Combine(_dir, "r.json"),
            "--endpoint", captioner.BaseUri.ToString(), "--served-model", "m", "--annotations", missing);

        result.ExitCode.Should().Be(1);
        result.StandardError.Should().Contain(missing).And.Contain("no such folder");
        captioner.RequestCount.Should().Be(0);
        File.Exists(Path.Combine(_dir, "r.json")).Should().BeFalse();
    }

    [Theory]
    [InlineData("--model", "x", "--endpoint", "http://127.0.0.1:9/v1")]
    [InlineData("--endpoint", "http://127.0.0.1:9/v1")]
    [InlineData("--model", "x", "--judge", "http://127.0.0.1:9/v1")]
    [InlineData("--model", "x", "--prompt", "poetic", "--pope", "p")]
    public async Task Bad_usage_is_named(params string[] extra)
    {
        var result = await SynthVlmTool.RunAsync(["hallucination", "report", "--images", Images, "--out", Path.Combine(_dir, "bad.json"), "--annotations", Annotations, .. extra]);

        result.ExitCode.Should().Be(2, result.StandardError);
        result.StandardError.Should().StartWith("hallucination report: ");
    }
}
