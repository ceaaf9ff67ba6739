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
        noMode.StandardError.Should().Contain("--annotations");

        var emptyFolder = await SynthVlmTool.RunAsync(["hallucination", "--captions", captions, "--annotations", _dir]);
        emptyFolder.ExitCode.Should().Be(1);
        emptyFolder.StandardError.Should().Contain("missing: instances_val2014.json");
        emptyFolder.StandardOutput.Should().BeEmpty();
    }
}
