using System.Text.Json;
using FluentAssertions;
using SynthVlm.Diffusion.Tiny;
using Xunit;

namespace SynthVlm.Cli.Tests;

/// <summary>`synthvlm models tiny-sd3 --dir D`: the user-facing way to write the tiny SD3 that `generate --model` and `AppHost run --model` take.</summary>
public sealed class ModelsTinySd3Tests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cli-tiny-sd3-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Models_tiny_sd3_writes_the_library_tiny_sd3_byte_for_byte_lists_its_files_and_keeps_an_existing_folder_unless_forced()
    {
        var folder = Path.Combine(_dir, "sd3");
        var reference = Path.Combine(_dir, "reference");
        TinySd3.Write(reference);

        var result = await SynthVlmTool.RunAsync("models", "tiny-sd3", "--dir", folder);

        result.ExitCode.Should().Be(0, result.StandardError);
        result.Lines.Should().ContainSingle();
        using (var line = JsonDocument.Parse(result.Lines[0]))
        {
            line.RootElement.GetProperty("model").GetString().Should().Be("sd3");
            line.RootElement.GetProperty("dir").GetString().Should().Be(folder);
            line.RootElement.GetProperty("files").EnumerateArray().Select(f => f.GetString()).Should()
                .Contain(["model_index.json", Path.Combine("transformer", "model.onnx"), Path.Combine("text_encoder_3", "model.onnx"), Path.Combine("tokenizer_3", "tokenizer.json"), Path.Combine("vae_decoder", "model.onnx")]);
        }
        var files = Files(reference);
        Files(folder).Should().Equal(files);
        foreach (var file in files)
        {
            (await File.ReadAllBytesAsync(Path.Combine(folder, file))).Should().Equal(await File.ReadAllBytesAsync(Path.Combine(reference, file)), file);
        }

        // An existing folder is kept as it is; --force writes it again.
        var marker = Path.Combine(folder, "user-file.txt");
        await File.WriteAllTextAsync(marker, "mine");
        (await SynthVlmTool.RunAsync("models", "tiny-sd3", "--dir", folder)).ExitCode.Should().Be(0);
        File.Exists(marker).Should().BeTrue("without --force an existing tiny SD3 folder is left alone");
        var forced = await SynthVlmTool.RunAsync("models", "tiny-sd3", "--dir", folder, "--force");
        forced.ExitCode.Should().Be(0, forced.StandardError);
        File.Exists(marker).Should().BeFalse("--force rewrites the folder");
        Files(folder).Should().Equal(files);
    }

    private static List<string> Files(string dir) =>
        [.. Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dir, f)).Order(StringComparer.Ordinal)];
}
