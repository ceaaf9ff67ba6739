using System.Text.Json;
using FluentAssertions;
using SynthVlm.Diffusion;
using SynthVlm.Diffusion.Tiny;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Cli.Tests;

/// <summary>`synthvlm generate --model` on the tiny SD3 (TinySd3): model_index.json picks the SD3 pipeline; the PNG equals the library's image.</summary>
public sealed class GenerateSd3Tests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cli-sd3-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Generate_with_an_sd3_folder_runs_the_sd3_pipeline_and_writes_the_librarys_image()
    {
        var folder = TinySd3.EnsureTiny(Path.Combine(_dir, "tiny-sd3"));
        var output = Path.Combine(_dir, "out.png");
        var noT5 = Path.Combine(_dir, "no-t5.png");
        string[] common = ["--prompt", "a cat on a table", "--seed", "11", "--steps", "3", "--guidance", "7", "--width", "64", "--height", "48"];

        var result = await SynthVlmTool.RunAsync(["generate", "--model", folder, "--out", output, .. common]);
        var skipped = await SynthVlmTool.RunAsync(["generate", "--model", folder, "--out", noT5, "--skip-t5", .. common]);
        var withRefiner = await SynthVlmTool.RunAsync(["generate", "--model", folder, "--refiner", folder, "--out", noT5, .. common]);

        result.ExitCode.Should().Be(0, result.StandardError);
        using (var line = JsonDocument.Parse(result.Lines[^1]))
        {
            line.RootElement.GetProperty("pipeline").GetString().Should().Be("sd3");
            line.RootElement.GetProperty("t5").GetBoolean().Should().BeTrue();
            line.RootElement.GetProperty("steps").GetInt32().Should().Be(3);
        }

        skipped.ExitCode.Should().Be(0, skipped.StandardError);
        using (var line = JsonDocument.Parse(skipped.Lines[^1]))
        {
            line.RootElement.GetProperty("t5").GetBoolean().Should().BeFalse();
        }

        withRefiner.ExitCode.Should().Be(2);
        withRefiner.StandardError.Should().Contain("--refiner is for SDXL only");

        using var model = Sd3Model.Load(folder);
        var expected = new Sd3Pipeline(model).Generate(["a cat on a table"], [11UL], new GenerationSettings { Width = 64, Height = 48, Steps = 3, Guidance = 7 });
        using var expectedImage = expected.Images[0].Image!;
        using var written = ImageCodec.DecodeFile(output);
        written.Width.Should().Be(64);
        written.Height.Should().Be(48);
        written.Pixels.ToArray().Should().Equal(expectedImage.Pixels.ToArray());
        using var writtenNoT5 = ImageCodec.DecodeFile(noT5);
        writtenNoT5.Pixels.ToArray().Should().NotEqual(expectedImage.Pixels.ToArray());
    }
}
