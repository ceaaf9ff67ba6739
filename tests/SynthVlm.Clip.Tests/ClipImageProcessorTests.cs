using System.Runtime.InteropServices;
using System.Text.Json;
using SynthVlm.Imaging;
using SynthVlm.Testing;

namespace SynthVlm.Clip.Tests;

public class ClipImageProcessorTests
{
    private static readonly string FixtureDir = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Clip.Tests", "Fixtures", "preprocess");

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureDir, "cases.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("image").GetString()!);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_pillow_and_numpy_reference(string imageName)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureDir, "cases.json")));
        var c = doc.RootElement.GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("image").GetString() == imageName);
        int size = c.GetProperty("size").GetInt32(), stride = c.GetProperty("stride").GetInt32();
        var reference = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Path.Combine(FixtureDir, $"{Path.GetFileNameWithoutExtension(imageName)}_{size}.bin"))).ToArray();

        using var image = Imaging.Codecs.ImageCodec.DecodeFile(Path.Combine(FixtureDir, imageName));
        var processor = ClipImageProcessor.OpenAiClip(size);
        var actual = new float[processor.TensorLength];
        processor.Preprocess(image, actual);

        var sampled = actual.Where((_, i) => i % stride == 0).ToArray();
        sampled.Should().HaveCount(reference.Length);
        // The resize matches Pillow within one grey level, i.e. 1/255/std after normalising.
        var oneLevel = (1 / 255.0 / 0.26130258) + 1e-6;
        var diffs = sampled.Zip(reference, (a, b) => Math.Abs((double)a - b)).ToArray();
        diffs.Max().Should().BeLessThanOrEqualTo(oneLevel);
        diffs.Count(d => d > 1e-6).Should().BeLessThan(diffs.Length / 50, "almost every value is exact");
    }

    [Theory]
    [InlineData(300, 200, 336, 224)]
    [InlineData(200, 300, 224, 336)]
    [InlineData(1024, 1024, 224, 224)]
    [InlineData(225, 1000, 224, 995)]
    [InlineData(224, 500, 224, 500)]
    public void Shortest_edge_resize_truncates_the_long_side(int w, int h, int ew, int eh) =>
        ClipImageProcessor.OpenAiClip().ResizedSize(w, h).Should().Be((ew, eh));

    [Fact]
    public void Reads_preprocessor_config_of_the_hugging_face_format()
    {
        var dir = Directory.CreateTempSubdirectory("clip-pre-");
        try
        {
            var path = Path.Combine(dir.FullName, "preprocessor_config.json");
            File.WriteAllText(path, """
                {"crop_size": {"height": 336, "width": 336}, "do_center_crop": true, "do_normalize": true,
                 "do_resize": true, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.5, 1.0],
                 "resample": 2, "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 336}}
                """);
            var p = ClipImageProcessor.FromFile(path);
            p.ResizeShortestEdge.Should().Be(336);
            (p.CropHeight, p.CropWidth).Should().Be((336, 336));
            p.Filter.Should().Be(ResampleFilter.Bilinear);

            using var white = RgbImage.Allocate(336, 336);
            white.Pixels.Fill(255);
            var values = new float[p.TensorLength];
            p.Preprocess(white, values);
            values[0].Should().BeApproximately((1f - 0.5f) / 0.25f, 1e-6f);
            values[336 * 336].Should().BeApproximately(1f, 1e-6f);
            values[2 * 336 * 336].Should().BeApproximately(0.5f, 1e-6f);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Theory]
    [InlineData("{", "not valid JSON")]
    [InlineData("""{"size": {"height": 224, "width": 224}}""", "shortest_edge")]
    [InlineData("""{"resample": 9}""", "\"resample\": 9")]
    [InlineData("""{"image_mean": [0.5, 0.5]}""", "\"image_mean\" must be an array of 3 numbers")]
    [InlineData("""{"image_std": [0.5, 0, 0.5]}""", "image_std values must be positive")]
    public void Bad_config_names_the_file_and_the_problem(string json, string problem)
    {
        var dir = Directory.CreateTempSubdirectory("clip-pre-");
        try
        {
            var path = Path.Combine(dir.FullName, "preprocessor_config.json");
            File.WriteAllText(path, json);
            var act = () => ClipImageProcessor.FromFile(path);
            act.Should().Throw<ClipModelException>().Where(e => e.Message.StartsWith(path, StringComparison.Ordinal) && e.Message.Contains(problem, StringComparison.Ordinal));
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public void Missing_config_says_which_file()
    {
        var act = () => ClipImageProcessor.FromFile("/nonexistent/model/preprocessor_config.json");
        act.Should().Throw<ClipModelException>().WithMessage("/nonexistent/model/preprocessor_config.json: file not found*");
    }
}
