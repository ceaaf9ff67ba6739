using System.Text.Json.Nodes;
using FluentAssertions;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Cli.Tests;

/// <summary>
/// `synthvlm dpo-round` and `synthvlm sft` as the built tool on the tiny LLaVA, with a fake judge endpoint (real
/// HTTP): the extractor makes one claim per word of the caption, the verifier's verdict is a fixed function of the
/// claim's text. Two continuous-DPO rounds show the rate computed and the pairs built per round and the checkpoints
/// written; a judge that accepts everything makes every sample tie, and the round says "no valid pair" instead of
/// training.
/// </summary>
public sealed class DpoRoundCommandsTests : IDisposable
{
    private static readonly string TinyModel = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Vlm.Tests", "Fixtures", "tiny-llava-hf");
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cli-dpo-round-").FullName;

    public DpoRoundCommandsTests()
    {
        WriteImages(Training, "t", 3);
        WriteImages(HeldOut, "h", 3);
    }

    private string Training => Path.Combine(_dir, "train");

    private string HeldOut => Path.Combine(_dir, "heldout");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Two_rounds_against_a_fake_judge_build_pairs_train_and_measure_the_rate_per_round()
    {
        await using var judge = new FakeChatServer(r => Judge(r, claim => Hash(claim) % 2 == 0 ? "Yes" : "No"));
        var output = Path.Combine(_dir, "rounds");

        var result = await Run(judge, output);

        result.ExitCode.Should().Be(0, result.StandardError);
        var printed = JsonNode.Parse(result.Lines.Single())!;
        printed["rounds_trained"]!.GetValue<int>().Should().Be(2, result.StandardError);
        printed["stopped"].Should().BeNull();
        var rounds = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "rounds.json")))!["rounds"]!.AsArray();
        rounds.Select(r => r!["round"]!.GetValue<int>()).Should().Equal(0, 1, 2);
        foreach (var round in rounds)
        {
            var heldout = round!["heldout"]!;
            heldout["captions"]!.GetValue<int>().Should().Be(3);
            (heldout["judged"]!.GetValue<int>() + heldout["unjudged"]!.GetValue<int>()).Should().Be(3);
            heldout["wilson95"]!.AsArray().Should().HaveCount(2);
            if (heldout["judged"]!.GetValue<int>() > 0)
            {
                heldout["rate"]!.GetValue<double>().Should().BeInRange(0, 1);
            }
        }
        rounds.Count(r => r!["heldout"]!["rate"] is not null).Should().BeGreaterThan(0, "the rate is computed where captions were judged");
        var start = Path.GetFullPath(TinyModel);
        rounds[1]!["policy"]!.GetValue<string>().Should().Be(start);
        rounds[2]!["policy"]!.GetValue<string>().Should().Be(rounds[1]!["checkpoint"]!.GetValue<string>());
        foreach (var k in new[] { 1, 2 })
        {
            var round = rounds[k]!;
            round["status"]!.GetValue<string>().Should().Be("trained");
            round["pairs"]!["pairs"]!.GetValue<int>().Should().BeGreaterThan(0);
            File.ReadAllLines(Path.Combine(output, $"round-{k}", "pairs.jsonl")).Should().HaveCount(round["pairs"]!["pairs"]!.GetValue<int>());
            round["dpo"]!["steps"]!.GetValue<int>().Should().Be(1);
            round["dpo"]!["first"]!["rewards/margins"].Should().NotBeNull();
            var checkpoint = round["checkpoint"]!.GetValue<string>();
            checkpoint.Should().Be(Path.Combine(output, $"round-{k}", "dpo", "model"));
            File.Exists(Path.Combine(checkpoint, "config.json")).Should().BeTrue();
            File.Exists(Path.Combine(checkpoint, "model.safetensors")).Should().BeTrue();
            var report = JsonNode.Parse(File.ReadAllText(Path.Combine(output, $"round-{k}", "dpo", "report.json")))!;
            report["loss_type"]!.GetValue<string>().Should().Be("sigmoid");
            report["log_history"]!.AsArray().Should().ContainSingle().Which!["loss"]!.GetValue<double>().Should().BeApproximately(Math.Log(2), 1e-4,
                "the LoRA starts at zero, so the policy equals the reference on the first step");
            File.ReadAllText(Path.Combine(output, $"round-{k}", "dpo", "metrics.svg")).Should().Contain("rewards/margins per step");
        }
        printed["pairs_by_round"]!.AsArray().Select(p => p!.GetValue<int>()).Should().Equal(rounds[1]!["pairs"]!["pairs"]!.GetValue<int>(), rounds[2]!["pairs"]!["pairs"]!.GetValue<int>());
        File.ReadAllText(Path.Combine(output, "rate.svg")).Should().Contain("non-hallucination rate per round");

        var requests = judge.RequestCount;
        var again = await Run(judge, output);
        again.ExitCode.Should().Be(0, again.StandardError);
        again.StandardError.Should().Contain("round 2: reused");
        judge.RequestCount.Should().Be(requests, "finished rounds are reused on a rerun");
        JsonNode.Parse(again.Lines.Single())!["rate_by_round"]!.ToJsonString().Should().Be(printed["rate_by_round"]!.ToJsonString());
    }

    [Fact]
    public async Task When_every_sample_ties_the_round_says_no_valid_pair_and_does_not_train()
    {
        await using var judge = new FakeChatServer(r => Judge(r, _ => "Yes"));
        var output = Path.Combine(_dir, "ties");

        var result = await Run(judge, output);

        result.ExitCode.Should().Be(0, result.StandardError);
        var printed = JsonNode.Parse(result.Lines.Single())!;
        printed["rounds_trained"]!.GetValue<int>().Should().Be(0);
        printed["stopped"]!.GetValue<string>().Should().StartWith("round 1: no valid pair: ").And.Contain(" ties");
        var round1 = printed["rounds"]!.AsArray()[1]!;
        round1["status"]!.GetValue<string>().Should().Be("no_valid_pair");
        round1["checkpoint"].Should().BeNull();
        Directory.Exists(Path.Combine(output, "round-1", "dpo")).Should().BeFalse("no training without a valid pair");
        Directory.Exists(Path.Combine(output, "round-2")).Should().BeFalse();
        result.StandardError.Should().Contain("no valid pair");
    }

    [Fact]
    public async Task Sft_fine_tunes_on_a_caption_pool_and_skips_records_without_an_image()
    {
        var pool = Path.Combine(_dir, "pool.jsonl");
        File.WriteAllLines(pool,
        [
            $"{{\"id\": \"a\", \"image\": \"{Path.Combine(Training, "t0.png")}\", \"caption\": \"A grey tile.\"}}",
            "{\"id\": \"b\", \"image\": \"missing.png\", \"caption\": \"Nothing here.\"}",
            $"{{\"id\": \"c\", \"image\": \"{Path.Combine(Training, "t1.png")}\", \"caption\": \"A darker tile.\"}}",
        ]);
        var output = Path.Combine(_dir, "sft");

        var result = await SynthVlmTool.RunAsync("sft", "--model", TinyModel, "--pool", pool, "--out", output, "--prompt-text", "Describe the image.",
            "--lora-r", "4", "--lora-alpha", "8", "--batch-size", "2", "--micro-batch", "2", "--max-steps", "1", "--lr", "1e-3");

        result.ExitCode.Should().Be(0, result.StandardError);
        var printed = JsonNode.Parse(result.Lines.Single())!;
        printed["steps"]!.GetValue<int>().Should().Be(1);
        printed["samples"]!.GetValue<int>().Should().Be(2);
        printed["pool_records_skipped"]!.GetValue<int>().Should().Be(1);
        printed["samples_without_answer"]!.GetValue<int>().Should().Be(0);
        result.StandardError.Should().Contain("line 2").And.Contain("missing.png");
        File.Exists(Path.Combine(printed["checkpoint"]!.GetValue<string>(), "config.json")).Should().BeTrue();
        var data = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "sft-data.json")))!.AsArray();
        data[0]!["conversations"]![0]!["value"]!.GetValue<string>().Should().Be("<image>\nDescribe the image.");
        data[0]!["conversations"]![1]!["value"]!.GetValue<string>().Should().Be("A grey tile.");
    }

    [Fact]
    public async Task Sft_with_a_preset_prompt_too_long_for_the_tiny_context_fails_before_training_saying_so()
    {
        var pool = Path.Combine(_dir, "pool-cut.jsonl");
        File.WriteAllLines(pool,
        [
            $"{{\"id\": \"a\", \"image\": \"{Path.Combine(Training, "t0.png")}\", \"caption\": \"A grey tile.\"}}",
            $"{{\"id\": \"c\", \"image\": \"{Path.Combine(Training, "t1.png")}\", \"caption\": \"A darker tile.\"}}",
        ]);
        var output = Path.Combine(_dir, "sft-cut");

        // The knowledge-rich preset plus the image's positions fill the tiny model's 128-position context.
        var result = await SynthVlmTool.RunAsync("sft", "--model", TinyModel, "--pool", pool, "--out", output, "--prompt", "knowledge-rich",
            "--lora-r", "4", "--lora-alpha", "8", "--batch-size", "2", "--micro-batch", "2", "--max-steps", "1");

        result.ExitCode.Should().NotBe(0, result.StandardOutput);
        result.StandardError.Should().Contain("sft: Every one of 2 samples has its answer cut by the 128-token context (prompt needs ")
            .And.Contain("use a shorter prompt or a model with a longer context");
        Directory.Exists(Path.Combine(output, "model")).Should().BeFalse();
    }

    [Theory]
    [InlineData("--loss", "hinge")]
    [InlineData("--judge", "not a url")]
    [InlineData("--rounds", "0")]
    public async Task Bad_usage_is_named(string option, string value)
    {
        var args = new List<string> { "dpo-round", "--model", TinyModel, "--images", Training, "--heldout", HeldOut, "--judge", "http://127.0.0.1:9/v1", "--judge-model", "j", "--out", Path.Combine(_dir, "bad") };
        var at = args.IndexOf(option);
        if (at >= 0)
        {
            args[at + 1] = value;
        }
        else
        {
            args.AddRange([option, value]);
        }

        var result = await SynthVlmTool.RunAsync([.. args]);

        result.ExitCode.Should().Be(2, result.StandardError);
        result.StandardError.Should().StartWith("dpo-round: ");
    }

    private Task<ChildProcessResult> Run(FakeChatServer judge, string output) => SynthVlmTool.RunAsync(
        "dpo-round", "--model", TinyModel, "--images", Training, "--heldout", HeldOut, "--judge", judge.BaseUri.ToString(), "--judge-model", "fake-judge",
        "--out", output, "--rounds", "2", "--samples", "4", "--temperature", "1.0", "--max-tokens", "6", "--prompt-text", "Describe the image.",
        "--steps", "1", "--pairs-per-step", "4", "--micro-batch", "2", "--lr", "1e-3", "--lora-rank", "4", "--max-length-ratio", "100", "--batch", "4");

    /// <summary>Extraction: one claim per word of the caption; verification: <paramref name="verdict"/> of the claim.</summary>
    private static FakeChatReply Judge(FakeChatRequest request, Func<string, string> verdict)
    {
        var text = request.LastText;
        const string Statement = "Statement: \"";
        var s = text.IndexOf(Statement, StringComparison.Ordinal);
        if (s >= 0)
        {
            var start = s + Statement.Length;
            var claim = text[start..text.IndexOf("\"\n\n", start, StringComparison.Ordinal)];
            return FakeChatReply.Answer(verdict(claim));
        }
        const string Caption = "Caption: \"";
        var c = text.IndexOf(Caption, StringComparison.Ordinal);
        var begin = c + Caption.Length;
        var caption = text[begin..text.LastIndexOf("\"\n\n", StringComparison.Ordinal)];
        var words = caption.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return FakeChatReply.Answer(words.Length == 0 ? "NONE" : string.Join('\n', words.Select(w => $"- The image shows {w.Replace("\"", string.Empty, StringComparison.Ordinal)}.")));
    }

    /// <summary>A fixed hash of the claim's text (not string.GetHashCode, which is randomised per process).</summary>
    private static int Hash(string text) => text.Aggregate(17, (h, ch) => unchecked((h * 31) + ch)) & int.MaxValue;

    private static void WriteImages(string folder, string prefix, int count)
    {
        Directory.CreateDirectory(folder);
        for (var i = 0; i < count; i++)
        {
            using var image = RgbImage.Allocate(10 + i, 8);
            image.Pixels.Fill((byte)(40 * (i + 1)));
            ImageCodec.EncodeFile(image, Path.Combine(folder, $"{prefix}{i}.png"));
        }
    }
}
