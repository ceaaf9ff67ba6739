using System.Text.Json;
using FluentAssertions;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Cli.Tests;

/// <summary>`synthvlm generate --refiner-mode`: the SynthVLM script's refiner use next to the hand-over, on the tiny SDXL pair.</summary>
public sealed class GenerateRefinerModeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cli-refiner-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<(JsonElement Line, byte[] Png)> GenerateAsync(string name, params string[] extra)
    {
        var output = Path.Combine(_dir, name + ".png");
        string[] args =
        [
            "generate", "--model", Path.Combine(_dir, "tiny", "sdxl-base"), "--refiner", Path.Combine(_dir, "tiny", "sdxl-refiner"),
            "--prompt", "a red bus at night", "--seed", "5", "--steps", "20", "--width", "64", "--height", "48", "--out", output, .. extra,
        ];
        var result = await SynthVlmTool.RunAsync(args);
        result.ExitCode.Should().Be(0, result.StandardError);
        return (JsonDocument.Parse(result.Lines[^1]).RootElement.Clone(), await File.ReadAllBytesAsync(output));
    }

    [Fact]
    public async Task Both_modes_run_on_the_same_prompt_and_seed_deterministically_and_differ()
    {
        var init = await SynthVlmTool.RunAsync("models", "init-tiny", "--dir", Path.Combine(_dir, "tiny"));
        init.ExitCode.Should().Be(0, init.StandardError);

        var handOver = await GenerateAsync("handover");
        var img2img = await GenerateAsync("img2img", "--refiner-mode", "img2img");
        var again = await GenerateAsync("img2img-again", "--refiner-mode", "img2img", "--refiner-strength", "0.3");
        var toEnd = await GenerateAsync("img2img-to-end", "--refiner-mode", "img2img", "--refiner-to-end");

        handOver.Line.GetProperty("refiner_mode").GetString().Should().Be("handover");
        handOver.Line.GetProperty("refiner_steps").GetInt32().Should().Be(4, "20 steps, the base runs t ≥ 200: 16 steps");
        img2img.Line.GetProperty("refiner_mode").GetString().Should().Be("img2img");
        img2img.Line.GetProperty("refiner_steps").GetInt32().Should().Be(2, "int(20 × 0.3) = 6 steps from 251, cut at 200");
        toEnd.Line.GetProperty("refiner_steps").GetInt32().Should().Be(6);
        img2img.Png.Should().Equal(again.Png);
        img2img.Png.Should().NotEqual(handOver.Png);
        toEnd.Png.Should().NotEqual(img2img.Png);

        var bad = await SynthVlmTool.RunAsync("generate", "--model", "m", "--prompt", "p", "--out", Path.Combine(_dir, "x.png"), "--refiner-mode", "ensemble");
        bad.ExitCode.Should().NotBe(0);
        bad.StandardError.Should().Contain("ensemble");
    }
}
