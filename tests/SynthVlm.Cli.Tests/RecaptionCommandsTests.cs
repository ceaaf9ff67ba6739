using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;
using FluentAssertions;
using SynthVlm.Captions;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Cli.Tests;

/// <summary>
/// `synthvlm recaption` as the built tool: a folder through a fake OpenAI-compatible endpoint (real HTTP) into a pool
/// that the caption pool reader reads; a run killed with kill -9 mid-run and resumed without duplicates; the tiny
/// in-process LLaVA as the captioner; bad usage.
/// </summary>
public sealed class RecaptionCommandsTests : IDisposable
{
    private static readonly string TinyModel = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Vlm.Tests", "Fixtures", "tiny-llava-hf");
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cli-recaption-").FullName;

    private string Images => Path.Combine(_dir, "images");

    public RecaptionCommandsTests()
    {
        for (var i = 0; i < 6; i++)
        {
            using var image = RgbImage.Allocate(8 + i, 6);
            image.Pixels.Fill((byte)(20 * i));
            Directory.CreateDirectory(Images);
            ImageCodec.EncodeFile(image, Path.Combine(Images, $"p{i}.png"));
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static List<PoolCaption> ReadPool(string path)
    {
        using var reader = CaptionPoolReader.Open(path);
        var records = reader.Read().ToList();
        records.Should().AllBeOfType<PoolCaption>();
        return [.. records.Cast<PoolCaption>()];
    }

    [Fact]
    public async Task Recaption_writes_a_pool_curation_reads_and_prints_one_json_summary()
    {
        await using var server = new FakeChatServer(r => FakeChatReply.Answer($"A grey tile, prompt of {r.LastText.Length} characters."));
        var output = Path.Combine(_dir, "out", "pool.jsonl");

        var result = await SynthVlmTool.RunAsync("recaption", "--images", Images, "--out", output, "--endpoint", server.BaseUri.ToString(),
            "--endpoint-model", "fake-vl", "--prompt", "brief", "--max-words", "12", "--concurrency", "3");

        result.ExitCode.Should().Be(0, result.StandardError);
        var summary = JsonNode.Parse(result.Lines.Single())!;
        summary["captioned"]!.GetValue<long>().Should().Be(6);
        summary["captioner"]!.GetValue<string>().Should().Be("fake-vl");
        summary["prompt"]!.GetValue<string>().Should().Be("brief@1");
        summary["shards"]!.AsArray().Select(s => s!.GetValue<string>()).Should().Equal(output);
        ReadPool(output).Select(p => p.Id).Should().Equal("p0", "p1", "p2", "p3", "p4", "p5");
        server.Requests.Should().OnlyContain(r => r.LastText.EndsWith("Use at most 12 words.", StringComparison.Ordinal) && r.Model == "fake-vl");
        File.Exists(Path.Combine(_dir, "out", "pool.summary.json")).Should().BeTrue();

        var curate = await SynthVlmTool.RunAsync("curate", "--in", output, "--out", Path.Combine(_dir, "curated"));
        curate.ExitCode.Should().Be(0, "curation ingests the pool as it is: " + curate.StandardError);
    }

    [Fact]
    public async Task Top_p_is_sent_to_the_endpoint_and_recorded_in_each_pool_lines_sampling()
    {
        await using var server = new FakeChatServer(_ => FakeChatReply.Answer("A grey tile."));
        var output = Path.Combine(_dir, "top-p", "pool.jsonl");

        var result = await SynthVlmTool.RunAsync("recaption", "--images", Images, "--out", output, "--endpoint", server.BaseUri.ToString(),
            "--endpoint-model", "fake-vl", "--temperature", "0.7", "--seed", "4", "--top-p", "0.9");
        var refused = await SynthVlmTool.RunAsync("recaption", "--images", Images, "--out", Path.Combine(_dir, "bad.jsonl"), "--endpoint", server.BaseUri.ToString(),
            "--endpoint-model", "fake-vl", "--top-p", "1.5");

        result.ExitCode.Should().Be(0, result.StandardError);
        server.Requests.Should().HaveCount(6).And.OnlyContain(r => r.Json.GetProperty("top_p").GetDouble() == 0.9 && r.Temperature == 0.7 && r.Seed == 4);
        File.ReadAllLines(output).Should().HaveCount(6).And.OnlyContain(l => JsonNode.Parse(l)!["sampling"]!["top_p"]!.GetValue<double>() == 0.9);
        refused.ExitCode.Should().Be(2);
        refused.StandardError.Should().Contain("TopP");
    }

    [Fact]
    public async Task A_run_killed_with_kill_9_resumes_without_duplicates_in_input_order()
    {
        // The server answers three captions, then hangs: the fourth request is in flight when the process is killed.
        await using var stalling = new FakeChatServer(r => r.Number <= 3 ? FakeChatReply.Answer($"Caption {r.Number}.") : new FakeChatReply { Hang = true });
        var output = Path.Combine(_dir, "out");
        var pool = Path.Combine(output, "pool-00000.jsonl");
        var configuration = typeof(RecaptionCommandsTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        ChildProcess.BypassProxies(info);
        foreach (var arg in (string[])[Path.Combine(RepoPaths.Root, "Cli", "bin", configuration, "net10.0", "synthvlm.dll"), "recaption", "--images", Images, "--out", output,
            "--endpoint", stalling.BaseUri.ToString(), "--endpoint-model", "fake-vl", "--concurrency", "1", "--shard-size", "4", "--timeout", "600"])
        {
            info.ArgumentList.Add(arg);
        }
        using (var child = Process.Start(info)!)
        {
            try
            {
                child.BeginOutputReadLine();
                child.BeginErrorReadLine();
                await TestTimeout.Until(
                    () => stalling.RequestCount >= 4 && File.Exists(pool) && File.ReadAllLines(pool).Length == 3,
                    TimeSpan.FromSeconds(60), "three captions written and the fourth request in flight");
            }
            finally
            {
                child.Kill(entireProcessTree: true); // SIGKILL on Linux: no cleanup runs.
                await child.WaitForExitAsync(TestTimeout.Token());
            }
        }
        File.Exists(Path.Combine(output, "pool.summary.json")).Should().BeFalse("a killed run writes no summary");
        File.AppendAllText(pool, "{\"id\": \"p3\", \"caption\": \"torn"); // what a kill in the middle of a write leaves

        await using var healthy = new FakeChatServer(r => FakeChatReply.Answer("A resumed caption."));
        var result = await SynthVlmTool.RunAsync("recaption", "--images", Images, "--out", output, "--endpoint", healthy.BaseUri.ToString(),
            "--endpoint-model", "fake-vl", "--concurrency", "2", "--shard-size", "4");

        result.ExitCode.Should().Be(0, result.StandardError);
        var summary = JsonNode.Parse(result.Lines.Single())!;
        summary["resumed"]!.GetValue<long>().Should().Be(3);
        summary["captioned"]!.GetValue<long>().Should().Be(3);
        summary["pool_records"]!.GetValue<long>().Should().Be(6);
        summary["torn_bytes_cut"]!.GetValue<long>().Should().BeGreaterThan(0);
        healthy.RequestCount.Should().Be(3);
        var shards = summary["shards"]!.AsArray().Select(s => s!.GetValue<string>()).ToList();
        shards.Select(Path.GetFileName).Should().Equal("pool-00000.jsonl", "pool-00001.jsonl");
        var all = shards.SelectMany(ReadPool).ToList();
        all.Select(p => p.Id).Should().Equal("p0", "p1", "p2", "p3", "p4", "p5");
        all.Select(p => p.Caption).Should().Equal("Caption 1.", "Caption 2.", "Caption 3.", "A resumed caption.", "A resumed caption.", "A resumed caption.");
    }

    [Fact]
    public async Task The_tiny_in_process_llava_captions_every_image_or_records_why_not()
    {
        var output = Path.Combine(_dir, "tiny", "pool.jsonl");

        var result = await SynthVlmTool.RunAsync("recaption", "--images", Images, "--out", output, "--model", TinyModel, "--max-tokens", "6", "--batch", "3",
            "--prompt-text", "Describe the image.");

        result.ExitCode.Should().Be(0, result.StandardError);
        var summary = JsonNode.Parse(result.Lines.Single())!;
        summary["captioner"]!.GetValue<string>().Should().Be("tiny-llava-hf");
        summary["prompt"]!.GetValue<string>().Should().Be("custom@1");
        (summary["captioned"]!.GetValue<long>() + summary["rejected"]![("empty_caption")]!.GetValue<long>()).Should().Be(6);
        summary["rejected_total"]!.GetValue<long>().Should().Be(summary["rejected"]!["empty_caption"]!.GetValue<long>());
        if (File.Exists(output))
        {
            ReadPool(output).Should().OnlyContain(p => p.Caption.Length > 0);
        }
    }

    [Theory]
    [InlineData("--endpoint", "http://127.0.0.1:9/v1", "--model", "x")]
    [InlineData("--prompt", "poetic", "--endpoint", "http://127.0.0.1:9/v1")]
    [InlineData("--source", "zip", "--endpoint", "http://127.0.0.1:9/v1")]
    public async Task Bad_usage_is_named(params string[] extra)
    {
        var result = await SynthVlmTool.RunAsync(["recaption", "--images", Images, "--out", Path.Combine(_dir, "bad.jsonl"), "--endpoint-model", "m", .. extra]);
        result.ExitCode.Should().Be(2);
        result.StandardError.Should().StartWith("recaption: ");
    }

    [Fact]
    public async Task A_missing_input_is_an_input_error()
    {
        var result = await SynthVlmTool.RunAsync("recaption", "--images", Path.Combine(_dir, "nothing"), "--out", Path.Combine(_dir, "o.jsonl"), "--endpoint", "http://127.0.0.1:9/v1", "--endpoint-model", "m");
        result.ExitCode.Should().Be(1);
        result.StandardError.Should().Contain(Path.Combine(_dir, "nothing"));
    }
}
