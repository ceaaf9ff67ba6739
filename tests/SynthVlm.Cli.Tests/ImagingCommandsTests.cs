using System.Reflection;
using System.Text.Json;
using FluentAssertions;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Cli.Tests;

/// <summary>`synthvlm ssim`, `ssim-score` and `resize` run as the built tool, on images made here.</summary>
public sealed class ImagingCommandsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Task<ChildProcessResult> SynthVlmAsync(params string[] args) => SynthVlmTool.RunAsync(args);

    /// <summary>A deterministic picture: gradients, a disc and a little hash noise.</summary>
    private string MakeImage(string name, int width, int height, int seed = 0)
    {
        using var image = RgbImage.Allocate(width, height);
        for (var y = 0; y < height; y++)
        {
            var row = image.Row(y);
            for (var x = 0; x < width; x++)
            {
                var inDisc = (x - width / 3) * (x - width / 3) + (y - height / 2) * (y - height / 2) < width * height / 16;
                var noise = (int)((uint)((x * 73856093) ^ (y * 19349663) ^ (seed * 83492791)) % 17) - 8;
                row[3 * x] = (byte)Math.Clamp((inDisc ? 220 : x * 255 / width) + noise, 0, 255);
                row[3 * x + 1] = (byte)Math.Clamp(y * 255 / height + noise, 0, 255);
                row[3 * x + 2] = (byte)Math.Clamp((inDisc ? 30 : 128) + noise, 0, 255);
            }
        }
        var path = Path.Combine(_dir, name);
        ImageCodec.EncodeFile(image, path);
        return path;
    }

    [Fact]
    public async Task Ssim_of_an_image_with_itself_is_one()
    {
        var a = MakeImage("a.png", 64, 48);

        var result = await SynthVlmAsync("ssim", a, a);

        result.ExitCode.Should().Be(0, result.StandardError);
        JsonDocument.Parse(result.StandardOutput).RootElement.GetProperty("ssim").GetDouble().Should().BeApproximately(1.0, 1e-12);
    }

    [Fact]
    public async Task Ssim_matches_the_library_on_two_different_images()
    {
        var a = MakeImage("a.png", 80, 60, seed: 1);
        var b = MakeImage("b.webp", 80, 60, seed: 2);
        using var ia = ImageCodec.DecodeFile(a);
        using var ib = ImageCodec.DecodeFile(b);

        var result = await SynthVlmAsync("ssim", a, b);

        result.ExitCode.Should().Be(0, result.StandardError);
        JsonDocument.Parse(result.StandardOutput).RootElement.GetProperty("ssim").GetDouble().Should().Be(Ssim.Compute(ia, ib));
    }

    [Fact]
    public async Task Ssim_of_mismatched_sizes_names_both_sizes_and_fails()
    {
        var a = MakeImage("a.png", 64, 48);
        var b = MakeImage("b.png", 48, 64);

        var result = await SynthVlmAsync("ssim", a, b);

        result.ExitCode.Should().Be(1);
        result.StandardError.Should().Contain("64x48").And.Contain("48x64");
    }

    [Fact]
    public async Task Ssim_score_prints_one_line_per_image_in_order_and_reports_bad_files()
    {
        var good = Enumerable.Range(0, 5).Select(i => MakeImage($"img{i}.jpg", 96, 96, seed: i)).ToList();
        var corrupt = Path.Combine(_dir, "corrupt.png");
        await File.WriteAllBytesAsync(corrupt, [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]);
        var missing = Path.Combine(_dir, "missing.png");
        var inputs = good.Take(2).Append(corrupt).Concat(good.Skip(2)).Append(missing).ToArray();

        var result = await SynthVlmAsync(["ssim-score", .. inputs, "--down", "32", "-j", "3"]);

        result.ExitCode.Should().Be(1, "two inputs could not be scored");
        var lines = result.Lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        lines.Select(l => l.GetProperty("image").GetString()).Should().Equal(inputs);
        lines[2].GetProperty("error").GetString().Should().Contain("corrupt.png");
        lines[^1].GetProperty("error").GetString().Should().Contain("missing.png");
        foreach (var (line, path) in lines.Zip(inputs).Where(p => good.Contains(p.Second)))
        {
            using var image = ImageCodec.DecodeFile(path);
            line.GetProperty("ssim").GetDouble().Should().Be(SsimScore.Compute(image, 32));
        }
    }

    [Fact]
    public async Task Decompression_bomb_cap_is_applied_and_named()
    {
        var a = MakeImage("big.png", 200, 200);

        var result = await SynthVlmAsync("ssim-score", a, "--max-pixels", "10000");

        result.ExitCode.Should().Be(1);
        result.StandardError.Should().Contain("big.png").And.Contain("40000").And.Contain("10000");
    }

    [Fact]
    public async Task Ssim_score_with_an_out_of_range_down_is_a_usage_error()
    {
        var a = MakeImage("a.png", 40, 40);

        var result = await SynthVlmAsync("ssim-score", a, "--down", "0");

        result.ExitCode.Should().Be(2);
        result.StandardError.Should().Contain("--down").And.Contain("got 0");
    }

    [Theory]
    [InlineData("out.png")]
    [InlineData("out.jpg")]
    [InlineData("out.webp")]
    public async Task Resize_writes_the_format_the_extension_names(string name)
    {
        var a = MakeImage("in.png", 120, 90);
        var output = Path.Combine(_dir, name);

        var result = await SynthVlmAsync("resize", a, output, "--width", "40", "--height", "30", "--filter", "lanczos3");

        result.ExitCode.Should().Be(0, result.StandardError);
        var bytes = await File.ReadAllBytesAsync(output);
        ImageCodec.DetectFormat(bytes).Should().Be(Path.GetExtension(name) switch { ".png" => ImageFormat.Png, ".jpg" => ImageFormat.Jpeg, _ => ImageFormat.WebP });
        using var resized = ImageCodec.Decode(bytes);
        (resized.Width, resized.Height).Should().Be((40, 30));
    }

    [Fact]
    public async Task Resize_png_output_equals_the_library()
    {
        var a = MakeImage("in.png", 101, 77, seed: 5);
        var output = Path.Combine(_dir, "out.png");
        using var source = ImageCodec.DecodeFile(a);
        using var expected = Resampler.Resize(source, 33, 20, ResampleFilter.Bicubic);

        var result = await SynthVlmAsync("resize", a, output, "--width", "33", "--height", "20");

        result.ExitCode.Should().Be(0, result.StandardError);
        using var actual = ImageCodec.DecodeFile(output);
        actual.Pixels.ToArray().Should().Equal(expected.Pixels.ToArray());
    }

    [Theory]
    [InlineData("out.gif", "gif")]
    [InlineData("out", "extension")]
    public async Task Resize_to_an_unknown_extension_is_refused(string name, string mention)
    {
        var a = MakeImage("in.png", 20, 20);

        var result = await SynthVlmAsync("resize", a, Path.Combine(_dir, name), "--width", "10", "--height", "10");

        result.ExitCode.Should().NotBe(0);
        result.StandardError.Should().Contain(mention);
        File.Exists(Path.Combine(_dir, name)).Should().BeFalse();
    }

    [Fact]
    public async Task Resize_to_zero_width_is_a_usage_error_naming_the_option()
    {
        var a = MakeImage("in.png", 20, 20);

        var result = await SynthVlmAsync("resize", a, Path.Combine(_dir, "o.png"), "--width", "0", "--height", "10");

        result.ExitCode.Should().NotBe(0);
        result.StandardError.Should().Contain("--width");
    }
}
