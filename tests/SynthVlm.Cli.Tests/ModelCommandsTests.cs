using System.Reflection;
using System.Text.Json;
using FluentAssertions;
using SynthVlm.Clip;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Cli.Tests;

/// <summary>`synthvlm models init-tiny`, `tokenize` and `clip-score` as the built tool, checked against the libraries.</summary>
public sealed class ModelCommandsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cli-models-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Task<ChildProcessResult> SynthVlmAsync(params string[] args) => SynthVlmTool.RunAsync(args);

    private async Task<string> InitTinyAsync()
    {
        var result = await SynthVlmAsync("models", "init-tiny", "--dir", Path.Combine(_dir, "tiny"));
        result.ExitCode.Should().Be(0, result.StandardError);
        result.Lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("model").GetString()).Should().Equal("clip", "sdxl-base", "sdxl-refiner", "llava", "llava-original");
        using var doc = JsonDocument.Parse(result.Lines[0]);
        return doc.RootElement.GetProperty("dir").GetString()!;
    }

    private string Image(string name, int w, int h, int seed)
    {
        using var image = RgbImage.Allocate(w, h);
        var px = image.Pixels;
        for (var i = 0; i < px.Length; i++)
        {
            px[i] = (byte)((i * (3 + seed)) >> 3);
        }
        var path = Path.Combine(_dir, name);
        ImageCodec.EncodeFile(image, path);
        return path;
    }

    [Fact]
    public async Task Init_tiny_writes_the_optimum_layout_with_tokenizer_files()
    {
        var clip = await InitTinyAsync();
        clip.Should().Be(Path.Combine(_dir, "tiny", "clip"));
        Directory.GetFiles(clip).Select(Path.GetFileName).Should().Contain(
            ["model.onnx", "config.json", "preprocessor_config.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"]);
    }

    [Fact]
    public async Task Tokenize_prints_the_ids_of_each_text_as_the_library_does()
    {
        var clip = await InitTinyAsync();
        var result = await SynthVlmAsync("tokenize", "--model", clip, "A red bus, parked!", "", string.Join(' ', Enumerable.Repeat("bus", 100)));
        result.ExitCode.Should().Be(0, result.StandardError);
        var tokenizer = Tokenizers.ClipTokenizer.FromFolder(clip);
        var lines = result.Lines;
        lines.Should().HaveCount(3);
        string[] texts = ["A red bus, parked!", "", string.Join(' ', Enumerable.Repeat("bus", 100))];
        for (var i = 0; i < 3; i++)
        {
            using var doc = JsonDocument.Parse(lines[i]);
            doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).Should().Equal(tokenizer.Encode(texts[i]).Ids);
        }
        using (var last = JsonDocument.Parse(lines[2]))
        {
            last.RootElement.GetProperty("truncated").GetBoolean().Should().BeTrue();
        }
    }

    [Fact]
    public async Task Clip_score_prints_one_line_per_pair_equal_to_the_library()
    {
        var clip = await InitTinyAsync();
        var a = Image("a.png", 300, 200, 1);
        var b = Image("b.jpg", 224, 224, 2);
        var result = await SynthVlmAsync("clip-score", "--model", clip, "--image", a, "--caption", "a red bus", "--image", b, "--caption", "stripes", "--prefix", "A photo depicts ");
        result.ExitCode.Should().Be(0, result.StandardError);
        result.Lines.Should().HaveCount(2);

        using var model = ClipModel.Load(clip);
        var per = model.ImageProcessor.TensorLength;
        var pixels = new float[2 * per];
        using (var ia = ImageCodec.DecodeFile(a))
        {
            model.ImageProcessor.Preprocess(ia, pixels.AsSpan(0, per));
        }
        using (var ib = ImageCodec.DecodeFile(b))
        {
            model.ImageProcessor.Preprocess(ib, pixels.AsSpan(per));
        }
        var expected = model.Encode(["A photo depicts a red bus", "A photo depicts stripes"], pixels, 2);
        for (var i = 0; i < 2; i++)
        {
            using var doc = JsonDocument.Parse(result.Lines[i]);
            doc.RootElement.GetProperty("image").GetString().Should().Be(i == 0 ? a : b);
            doc.RootElement.GetProperty("cosine").GetDouble().Should().BeApproximately(expected.Cosine(i, i), 1e-5);
            doc.RootElement.GetProperty("clip").GetDouble().Should().BeApproximately(Math.Max(expected.Cosine(i, i), 0), 1e-5);
        }
    }

    [Fact]
    public async Task Clip_score_reads_pairs_from_a_file_and_reports_a_bad_image_without_stopping()
    {
        var clip = await InitTinyAsync();
        var good = Image("good.png", 64, 64, 3);
        var broken = Path.Combine(_dir, "broken.png");
        await File.WriteAllTextAsync(broken, "not an image");
        var pairs = Path.Combine(_dir, "pairs.jsonl");
        await File.WriteAllLinesAsync(pairs, [
            JsonSerializer.Serialize(new { image = good, caption = "one" }),
            JsonSerializer.Serialize(new { image = broken, caption = "two" }),
            JsonSerializer.Serialize(new { image = good, caption = "three" }),
        ]);
        var result = await SynthVlmAsync("clip-score", "--model", clip, "--pairs", pairs, "--hessel");
        result.ExitCode.Should().Be(1);
        result.Lines.Should().HaveCount(3);
        result.Lines[1].Should().Contain("\"error\"").And.Contain("broken.png");
        result.StandardError.Should().Contain("broken.png");
        using var third = JsonDocument.Parse(result.Lines[2]);
        third.RootElement.GetProperty("clip").GetDouble().Should().BeApproximately(2.5 * Math.Max(third.RootElement.GetProperty("cosine").GetDouble(), 0), 1e-9);
    }

    [Theory]
    [InlineData("clip-score --model MODEL --image x.png", 2, "give one caption per image")]
    [InlineData("clip-score --model MODEL", 2, "nothing to score")]
    [InlineData("clip-score --model /nonexistent/clip --image x.png --caption y", 1, "model folder not found")]
    [InlineData("tokenize --model /nonexistent/tok hello", 1, "/nonexistent/tok")]
    public async Task Bad_usage_gets_a_clear_message_and_exit_code(string commandLine, int exitCode, string message)
    {
        var clip = await InitTinyAsync();
        var result = await SynthVlmAsync(commandLine.Replace("MODEL", clip, StringComparison.Ordinal).Split(' '));
        result.ExitCode.Should().Be(exitCode, result.StandardError);
        result.StandardError.Should().Contain(message);
    }
}
