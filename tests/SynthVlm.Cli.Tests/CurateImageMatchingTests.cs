using System.Globalization;
using System.Text.Json;
using FluentAssertions;
using SynthVlm.Blip;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Onnx;
using SynthVlm.Testing;
using Xunit;
using Xunit.Abstractions;

namespace SynthVlm.Cli.Tests;

/// <summary>`synthvlm curate --itm-model`: BLIP image–text matching in the offline command, on the tiny BLIP of SynthVlm.Blip.Tests.</summary>
public sealed class CurateImageMatchingTests(ITestOutputHelper output) : IDisposable
{
    private const int Threads = 2;

    private static readonly string TinyBlip = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Blip.Tests", "Fixtures", "tiny-blip");

    // Captions that pass the six rule filters at the paper's settings, each with its own picture.
    private static readonly (string Id, string Caption, byte R, byte G, byte B, bool Stripes)[] Scored =
    [
        ("red", "A red bus parked near the old station at noon.", 200, 30, 30, false),
        ("green", "A green tree stands beside a small wooden house.", 30, 180, 40, true),
        ("blue", "A blue boat rests on pebbles beside a quiet harbour.", 20, 40, 210, false),
        ("grey", "A grey cat sits on a soft sofa in a bright room.", 128, 128, 128, true),
        ("sand", "A brown dog runs along the wet sand of a beach at sunset.", 210, 180, 120, false),
    ];

    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cli-curate-itm-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static List<JsonElement> ReadJsonl(string path) =>
        [.. File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement.Clone())];

    private static RgbImage Picture(int width, int height, byte r, byte g, byte b, bool stripes)
    {
        var image = RgbImage.Allocate(width, height);
        for (var y = 0; y < height; y++)
        {
            var row = image.Row(y);
            for (var x = 0; x < width; x++)
            {
                var dark = stripes && (x / 4 + y / 6) % 2 == 0;
                row[3 * x] = (byte)(dark ? r / 3 : r);
                row[(3 * x) + 1] = (byte)(dark ? g / 3 : (g + x) % 256);
                row[(3 * x) + 2] = (byte)(dark ? b / 3 : b);
            }
        }
        return image;
    }

    /// <summary>
    /// The pool (relative image paths, from the pool's folder): five captions with PNGs of different sizes,
    /// one whose PNG is missing, one without an image; and the tiny BLIP's probabilities for the five,
    /// computed here with the same batch (one ONNX call, same padding) and thread count as the tool.
    /// </summary>
    private (string Pool, Dictionary<string, double> Expected) PoolWithImages()
    {
        var images = Directory.CreateDirectory(Path.Combine(_dir, "pool", "images")).FullName;
        var lines = new List<string>();
        var decoded = new List<RgbImage>();
        try
        {
            for (var i = 0; i < Scored.Length; i++)
            {
                var (id, caption, r, g, b, stripes) = Scored[i];
                using (var picture = Picture(40 + (7 * i), 33 + (5 * i), r, g, b, stripes))
                {
                    ImageCodec.EncodeFile(picture, Path.Combine(images, id + ".png"));
                }
                lines.Add(JsonSerializer.Serialize(new Dictionary<string, string> { ["id"] = id, ["caption"] = caption, ["image"] = $"images/{id}.png" }));
                if (i == 2)
                {
                    lines.Add(JsonSerializer.Serialize(new Dictionary<string, string> { ["id"] = "missing", ["caption"] = "A white horse grazes in a green field by a fence.", ["image"] = "images/missing.png" }));
                    lines.Add(JsonSerializer.Serialize(new Dictionary<string, string> { ["id"] = "noimage", ["caption"] = "A yellow kite flies high above a windy hill." }));
                }
                decoded.Add(ImageCodec.DecodeFile(Path.Combine(images, id + ".png")));
            }
            var pool = Path.Combine(_dir, "pool", "pool.jsonl");
            File.WriteAllLines(pool, lines);

            using var model = BlipItmModel.Load(TinyBlip, 16, new OnnxSessionSettings { IntraOpThreads = Threads });
            var probabilities = model.MatchProbabilities([.. decoded.Select((image, i) => new ImageCaptionPair(image, Scored[i].Caption))]);
            return (pool, Scored.Select((s, i) => (s.Id, probabilities[i])).ToDictionary(p => p.Id, p => p.Item2));
        }
        finally
        {
            foreach (var image in decoded)
            {
                image.Dispose();
            }
        }
    }

    [Fact]
    public async Task Curate_with_itm_model_scores_captions_against_their_images_and_rejects_out_of_range_ones()
    {
        var (pool, expected) = PoolWithImages();
        // A minimum between the 2nd and 3rd lowest probabilities: two captions fall below it, three pass.
        var sorted = expected.Values.Order().ToArray();
        var min = (sorted[1] + sorted[2]) / 2;
        output.WriteLine(string.Join(", ", expected.Select(p => $"{p.Key} {p.Value:R}")));
        var outDir = Path.Combine(_dir, "out");

        var result = await SynthVlmTool.RunAsync("curate", "--in", pool, "--out", outDir, "-j", Threads.ToString(CultureInfo.InvariantCulture),
            "--itm-model", TinyBlip, "--itm-min", min.ToString("R", CultureInfo.InvariantCulture), "--itm-batch", "16");
        output.WriteLine(result.StandardOutput + result.StandardError);
        result.ExitCode.Should().Be(0, result.StandardError);

        // stats.jsonl: every caption in pool order, the score equal to BlipItmModel's probability; null where not scored.
        var stats = ReadJsonl(Path.Combine(outDir, "stats.jsonl"));
        stats.Select(s => s.GetProperty("id").GetString()).Should().Equal("red", "green", "blue", "missing", "noimage", "grey", "sand");
        foreach (var s in stats)
        {
            var id = s.GetProperty("id").GetString()!;
            var score = s.GetProperty("image_text_matching_score");
            if (expected.TryGetValue(id, out var p))
            {
                score.GetDouble().Should().BeApproximately(p, 1e-9, id);
            }
            else
            {
                score.ValueKind.Should().Be(JsonValueKind.Null, id);
            }
        }

        var low = expected.Where(p => p.Value < min).Select(p => p.Key).ToHashSet();
        low.Should().HaveCount(2);
        var kept = ReadJsonl(Path.Combine(outDir, "kept.jsonl"));
        kept.Select(k => k.GetProperty("id").GetString()).Should().Equal(
            new[] { "red", "green", "blue", "noimage", "grey", "sand" }.Where(id => !low.Contains(id)));
        kept.Single(k => k.GetProperty("id").GetString() == "noimage").TryGetProperty("image", out _).Should().BeFalse();

        var rejected = ReadJsonl(Path.Combine(outDir, "rejected.jsonl"));
        var byId = rejected.ToDictionary(r => r.GetProperty("id").GetString()!);
        byId.Keys.Should().BeEquivalentTo(low.Append("missing"));
        foreach (var id in low)
        {
            byId[id].GetProperty("filter").GetString().Should().Be("image_text_matching_filter");
            var reason = byId[id].GetProperty("reason").GetString();
            reason.Should().Be(string.Create(CultureInfo.InvariantCulture, $"image_text_matching_score {expected[id]:0.####} below min {min:0.####}"));
        }
        byId["missing"].GetProperty("filter").GetString().Should().Be("image_unreadable");
        byId["missing"].GetProperty("reason").GetString().Should().Contain("images/missing.png").And.Contain("not found");

        using var summary = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "summary.json")));
        var root = summary.RootElement;
        var itm = root.GetProperty("image_text_matching");
        itm.GetProperty("scored").GetInt64().Should().Be(5);
        itm.GetProperty("passed").GetInt64().Should().Be(3);
        itm.GetProperty("rejected").GetInt64().Should().Be(2);
        itm.GetProperty("image_unreadable").GetInt64().Should().Be(1);
        itm.GetProperty("not_scored").GetProperty("no_image").GetInt64().Should().Be(1);
        itm.GetProperty("not_scored").GetProperty("dropped_by_rule_filters").GetInt64().Should().Be(0);
        itm.GetProperty("min_score").GetDouble().Should().Be(min);
        itm.GetProperty("max_score").GetDouble().Should().Be(1.0);
        itm.GetProperty("batch").GetInt32().Should().Be(16);
        root.GetProperty("dropped_by_filter").GetProperty("image_text_matching_filter").GetInt64().Should().Be(2);
        root.GetProperty("dropped_by_filter").GetProperty("image_unreadable").GetInt64().Should().Be(1);
        root.GetProperty("histograms").EnumerateArray().Select(h => h.GetString()).Should().Contain("histograms/image_text_matching_score.svg");
        File.Exists(Path.Combine(outDir, "histograms", "image_text_matching_score.svg")).Should().BeTrue();
    }

    [Fact]
    public async Task Curate_with_small_itm_batches_and_a_flip_keeps_pool_order_and_scores_flipped_images()
    {
        var (pool, _) = PoolWithImages();
        var outDir = Path.Combine(_dir, "out-flip");
        var result = await SynthVlmTool.RunAsync("curate", "--in", pool, "--out", outDir, "-j", "3",
            "--itm-model", TinyBlip, "--itm-min", "0", "--itm-flip", "h", "--itm-batch", "2");
        result.ExitCode.Should().Be(0, result.StandardError);

        // The tool's scores equal the flipped images' probabilities (scored one pair at a time here, so
        // padding differs from the tool's batches of two: a looser tolerance).
        using var model = BlipItmModel.Load(TinyBlip, 1);
        var stats = ReadJsonl(Path.Combine(outDir, "stats.jsonl"));
        stats.Select(s => s.GetProperty("id").GetString()).Should().Equal("red", "green", "blue", "missing", "noimage", "grey", "sand");
        var flipMatters = 0.0;
        foreach (var (id, caption, _, _, _, _) in Scored)
        {
            using var image = ImageCodec.DecodeFile(Path.Combine(_dir, "pool", "images", id + ".png"));
            using var flipped = BlipImageProcessor.Flip(image, horizontal: true, vertical: false);
            var p = model.MatchProbabilities([new ImageCaptionPair(flipped, caption)])[0];
            var unflipped = model.MatchProbabilities([new ImageCaptionPair(image, caption)])[0];
            flipMatters = Math.Max(flipMatters, Math.Abs(p - unflipped));
            stats.Single(s => s.GetProperty("id").GetString() == id).GetProperty("image_text_matching_score").GetDouble().Should().BeApproximately(p, 1e-5, id);
        }
        flipMatters.Should().BeGreaterThan(1e-3, "the pictures are not mirror-symmetric, so the test can tell a flipped score from an unflipped one");
        ReadJsonl(Path.Combine(outDir, "kept.jsonl")).Select(k => k.GetProperty("id").GetString()).Should().Equal("red", "green", "blue", "noimage", "grey", "sand");
        using var summary = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(outDir, "summary.json")));
        summary.RootElement.GetProperty("image_text_matching").GetProperty("flip").GetString().Should().Be("h");
    }

    [Fact]
    public async Task Curate_with_itm_writes_the_same_files_whatever_the_thread_count()
    {
        var (pool, _) = PoolWithImages();
        var files = new List<string[]>();
        foreach (var threads in new[] { "1", "4" })
        {
            var outDir = Path.Combine(_dir, "out-j" + threads);
            var result = await SynthVlmTool.RunAsync("curate", "--in", pool, "--out", outDir, "-j", threads, "--itm-model", TinyBlip, "--itm-min", "0.7", "--itm-batch", "3");
            result.ExitCode.Should().Be(0, result.StandardError);
            files.Add([.. new[] { "kept.jsonl", "rejected.jsonl", "stats.jsonl" }.Select(f => File.ReadAllText(Path.Combine(outDir, f)))]);
        }
        files[1].Should().Equal(files[0]);
    }

    [Theory]
    [InlineData("--itm-min", "1.5", "--itm-min must be a probability in [0, 1]; got 1.5")]
    [InlineData("--itm-max", "-0.1", "--itm-max must be a probability in [0, 1]; got -0.1")]
    [InlineData("--itm-flip", "x", "--itm-flip must be h, v or hv; got 'x'")]
    [InlineData("--itm-batch", "0", "--itm-batch must be at least 1; got 0")]
    public async Task Curate_refuses_an_out_of_range_itm_option_naming_it(string option, string value, string message)
    {
        var (pool, _) = PoolWithImages();
        var outDir = Path.Combine(_dir, "out-bad");
        var result = await SynthVlmTool.RunAsync("curate", "--in", pool, "--out", outDir, "--itm-model", TinyBlip, option, value);
        result.ExitCode.Should().Be(2, result.StandardError);
        result.StandardError.Should().Contain(message);
        Directory.Exists(outDir).Should().BeFalse();
        Directory.GetDirectories(_dir).Should().NotContain(d => Path.GetFileName(d).Contains("staging", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Curate_refuses_a_model_folder_without_itm_onnx_and_itm_options_without_a_model()
    {
        var (pool, _) = PoolWithImages();
        var empty = Directory.CreateDirectory(Path.Combine(_dir, "no-model")).FullName;
        File.Copy(Path.Combine(TinyBlip, "vocab.txt"), Path.Combine(empty, "vocab.txt"));
        File.Copy(Path.Combine(TinyBlip, "blip_itm.json"), Path.Combine(empty, "blip_itm.json"));

        var result = await SynthVlmTool.RunAsync("curate", "--in", pool, "--out", Path.Combine(_dir, "out1"), "--itm-model", empty);
        result.ExitCode.Should().Be(2, result.StandardError);
        result.StandardError.Should().Contain("--itm-model").And.Contain(Path.Combine(empty, "itm.onnx")).And.Contain("file not found");

        result = await SynthVlmTool.RunAsync("curate", "--in", pool, "--out", Path.Combine(_dir, "out2"), "--itm-min", "0.5");
        result.ExitCode.Should().Be(2, result.StandardError);
        result.StandardError.Should().Contain("--itm-min given without --itm-model");
    }
}
