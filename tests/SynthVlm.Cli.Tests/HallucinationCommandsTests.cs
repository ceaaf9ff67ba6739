using System.Text.Json.Nodes;
using FluentAssertions;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Cli.Tests;

/// <summary>
/// `synthvlm hallucination --annotations` as the built tool: the CHAIR parity fixture (expected
/// values written by the official chair.py, see SynthVlm.Hallucination.Tests/Fixtures/chair),
/// JSONL with a bad line, and bad usage.
/// </summary>
public sealed class HallucinationCommandsTests : IDisposable
{
    private static readonly string Fixtures = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Hallucination.Tests", "Fixtures", "chair");
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cli-chair-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Chair_prints_one_json_object_equal_to_the_official_code()
    {
        var result = await SynthVlmTool.RunAsync(["hallucination", "--captions", Path.Combine(Fixtures, "captions.json"), "--annotations", Path.Combine(Fixtures, "annotations")]);

        result.ExitCode.Should().Be(0, result.StandardError);
        result.Lines.Should().HaveCount(1);
        var output = JsonNode.Parse(result.StandardOutput)!;
        var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures, "expected.json")))!;
        output["chair_s"]!.GetValue<double>().Should().BeApproximately(expected["chair_s"]!.GetValue<double>(), 1e-9);
        output["chair_i"]!.GetValue<double>().Should().BeApproximately(expected["chair_i"]!.GetValue<double>(), 1e-9);
        var captions = output["captions"]!.AsArray();
        var expectedCaptions = expected["captions"]!.AsArray();
        captions.Should().HaveCount(expectedCaptions.Count);
        for (var i = 0; i < captions.Count; i++)
        {
            captions[i]!["image_id"]!.GetValue<long>().Should().Be(expectedCaptions[i]!["image_id"]!.GetValue<long>());
            captions[i]!["mentioned_objects"]!.ToJsonString().Should().Be(expectedCaptions[i]!["mentioned_objects"]!.ToJsonString());
            captions[i]!["hallucinated_objects"]!.ToJsonString().Should().Be(expectedCaptions[i]!["hallucinated_objects"]!.ToJsonString());
        }
        output["skipped"]!.GetValue<int>().Should().Be(0);
    }

    [Fact]
    public async Task Jsonl_bad_line_is_reported_on_stderr_and_counted()
    {
        var captions = Path.Combine(_dir, "captions.jsonl");
        File.WriteAllText(captions, "{\"image_id\": 777, \"caption\": \"A cat on a bed.\"}\nnot json\n{\"image_id\": 101, \"caption\": \"A dog.\"}\n");

        var result = await SynthVlmTool.RunAsync(["hallucination", "--captions", captions, "--annotations", Path.Combine(Fixtures, "annotations")]);

        result.ExitCode.Should().Be(0, result.StandardError);
        var output = JsonNode.Parse(result.StandardOutput)!;
        output["captions_scored"]!.GetValue<int>().Should().Be(2);
        output["skipped"]!.GetValue<int>().Should().Be(1);
        output["chair_s"]!.GetValue<double>().Should().Be(0.5);
        output["chair_i"]!.GetValue<double>().Should().BeApproximately(2.0 / 3, 1e-12);
        output["captions"]![0]!["hallucinated_objects"]!.ToJsonString().Should().Be("[\"cat\",\"bed\"]");
        result.StandardError.Should().Contain("line 2").And.Contain("1 entry of");
    }

    [Fact]
    public async Task Missing_annotations_are_a_usage_or_input_error()
    {
        var captions = Path.Combine(_dir, "captions.jsonl");
        File.WriteAllText(captions, "{\"image_id\": 101, \"caption\": \"A dog.\"}\n");

        var noMode = await SynthVlmTool.RunAsync(["hallucination", "--captions", captions]);
        noMode.ExitCode.Should().Be(2);
        noMode.StandardError.Should().Contain("--annotations").And.Contain("--judge");

        var emptyFolder = await SynthVlmTool.RunAsync(["hallucination", "--captions", captions, "--annotations", _dir]);
        emptyFolder.ExitCode.Should().Be(1);
        emptyFolder.StandardError.Should().Contain("missing: instances_val2014.json");
        emptyFolder.StandardOutput.Should().BeEmpty();
    }

    [Fact]
    public async Task Judge_mode_prints_the_rate_with_its_interval_per_caption_verdicts_and_skips_captions_without_an_image()
    {
        var images = Directory.CreateDirectory(Path.Combine(_dir, "images")).FullName;
        foreach (var name in new[] { "1", "COCO_val2014_000000000002", "three" })
        {
            File.WriteAllBytes(Path.Combine(images, name + ".png"), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, .. System.Text.Encoding.UTF8.GetBytes(name)]);
        }
        var captions = Path.Combine(_dir, "captions.json");
        File.WriteAllText(captions, """
            [{"image_id": 1, "caption": "A dog on grass."},
             {"image_id": 2, "caption": "A cat with a hat."},
             {"image_id": "x", "caption": "Named file.", "image": "three.png"},
             {"image_id": 4, "caption": "No image for this one."},
             {"image_id": 5, "caption": "Garbage from the judge."}]
            """);
        File.WriteAllBytes(Path.Combine(images, "5.png"), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 5]);
        var claims = new Dictionary<string, string>
        {
            ["A dog on grass."] = "- There is a dog.\n- The dog is on grass.",
            ["A cat with a hat."] = "- There is a cat.\n- The cat wears a hat.",
            ["Named file."] = "1. The file is named.",
            ["Garbage from the judge."] = "I cannot help with that request, sorry.",
        };
        await using var server = new FakeChatServer(r =>
        {
            var text = r.LastText;
            if (claims.FirstOrDefault(c => text.Contains(c.Key, StringComparison.Ordinal)) is { Key: not null } hit && !text.Contains("Statement:", StringComparison.Ordinal))
            {
                return FakeChatReply.Answer(hit.Value);
            }
            return FakeChatReply.Answer(text.Contains("wears a hat", StringComparison.Ordinal) ? "No." : "Yes");
        });
        var records = Path.Combine(_dir, "judgements.jsonl");

        var result = await SynthVlmTool.RunAsync(["hallucination", "--captions", captions, "--judge", server.BaseUri.ToString(), "--judge-model", "fake-judge", "--images", images, "--records", records]);

        result.ExitCode.Should().Be(0, result.StandardError);
        var output = JsonNode.Parse(result.StandardOutput)!;
        output["metric"]!.GetValue<string>().Should().Be("non_hallucination_rate");
        output["judged"]!.GetValue<int>().Should().Be(3);
        output["unjudged"]!.GetValue<int>().Should().Be(1, "the judge's garbage leaves one caption unjudged");
        output["rate"]!.GetValue<double>().Should().BeApproximately(2.0 / 3, 1e-12);
        var (low, high) = SynthVlm.Core.Statistics.WilsonInterval.Compute(2, 3);
        output["wilson95"]![0]!.GetValue<double>().Should().Be(low);
        output["wilson95"]![1]!.GetValue<double>().Should().Be(high);
        output["skipped"]!.GetValue<int>().Should().Be(1);
        var perCaption = output["captions"]!.AsArray();
        perCaption.Select(c => c!["image_id"]!.GetValue<string>()).Should().Equal("1", "2", "x", "5");
        perCaption[1]!["rejected"]!.ToJsonString().Should().Be("[\"The cat wears a hat.\"]");
        perCaption[3]!["unjudged_reason"]!.GetValue<string>().Should().NotBeNullOrEmpty();
        result.StandardError.Should().Contain("image 4").And.Contain("skipped");
        File.ReadAllLines(records).Should().HaveCount(4);

        var requests = server.RequestCount;
        var again = await SynthVlmTool.RunAsync(["hallucination", "--captions", captions, "--judge", server.BaseUri.ToString(), "--judge-model", "fake-judge", "--images", images]);
        again.ExitCode.Should().Be(0, again.StandardError);
        server.RequestCount.Should().Be(requests, "every reply comes from the cache beside the captions file");
        JsonNode.Parse(again.StandardOutput)!["rate"]!.GetValue<double>().Should().BeApproximately(2.0 / 3, 1e-12);
    }
}
