using System.Runtime.InteropServices;
using System.Text.Json;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Vlm.Images;

namespace SynthVlm.Vlm.Tests;

public sealed class LlavaImageProcessorTests
{
    private static readonly string ImageDir = Path.Combine(Scripts.Fixtures, "llava_images");

    private static JsonDocument Reference() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Scripts.Fixtures, "llava_image_reference.json")));

    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        using var doc = Reference();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("image").GetString()!, c.GetProperty("config").GetString()!, c.GetProperty("mode").GetString()!);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_the_pillow_reference_of_expand2square_and_CLIPImageProcessor(string image, string config, string mode)
    {
        using var doc = Reference();
        var c = doc.RootElement.GetProperty("cases").EnumerateArray().Single(e =>
            e.GetProperty("image").GetString() == image && e.GetProperty("config").GetString() == config && e.GetProperty("mode").GetString() == mode);
        var expected = MemoryMarshal.Cast<byte, float>(Convert.FromBase64String(c.GetProperty("values_f32_le_base64").GetString()!)).ToArray();
        var processor = LlavaImageProcessor.FromPreprocessorConfig(Path.Combine(ImageDir, config, "preprocessor_config.json"));

        var stride = c.GetProperty("stride").GetInt32();
        var full = processor.Preprocess(Path.Combine(ImageDir, image), mode == "pad" ? ImageAspectMode.Pad : ImageAspectMode.Crop);
        var actual = full.Where((_, i) => i % stride == 0).ToArray();

        full.Should().HaveCount(processor.TensorLength);
        actual.Should().HaveCount(expected.Length);
        // The resize is Pillow-exact on these images (measured: every value bit-equal); 1e-6 leaves
        // room only for the float32 normalise, so one grey level (~0.015 after /std) would fail.
        for (var i = 0; i < expected.Length; i++)
        {
            actual[i].Should().BeApproximately(expected[i], 1e-6f, $"value {i * stride} ([c, y, x] = [{i * stride / (processor.Height * processor.Width)}, {i * stride / processor.Width % processor.Height}, {i * stride % processor.Width}])");
        }
    }

    [Fact]
    public void Pad_colour_is_the_truncated_mean_times_255()
    {
        using var doc = Reference();
        var expected = doc.RootElement.GetProperty("pad_background").EnumerateArray().Select(e => (byte)e.GetInt32()).ToArray();
        var processor = LlavaImageProcessor.FromPreprocessorConfig(Path.Combine(ImageDir, "s14c14", "preprocessor_config.json"));

        processor.PadColor.Should().Be(((byte)122, (byte)116, (byte)104));
        new[] { processor.PadColor.R, processor.PadColor.G, processor.PadColor.B }.Should().Equal(expected);
    }

    [Theory]
    [InlineData(5, 2, 0, 1)] // wider: pasted at (0, (w - h) // 2)
    [InlineData(2, 5, 1, 0)] // taller: pasted at ((h - w) // 2, 0)
    [InlineData(6, 3, 0, 1)]
    [InlineData(1, 4, 1, 0)]
    public void Expand_to_square_pastes_where_llava_does(int w, int h, int left, int top)
    {
        var pixels = Enumerable.Range(0, w * h * 3).Select(i => (byte)(i + 1)).ToArray(); // no pixel equals the background
        using var image = RgbImage.FromPixels(w, h, pixels);
        var bg = ((byte)200, (byte)201, (byte)202);

        using var square = LlavaImageProcessor.ExpandToSquare(image, bg);

        var side = Math.Max(w, h);
        square.Width.Should().Be(side);
        square.Height.Should().Be(side);
        for (var y = 0; y < side; y++)
        {
            for (var x = 0; x < side; x++)
            {
                var p = square.Row(y).Slice(x * 3, 3).ToArray();
                var inside = x >= left && x < left + w && y >= top && y < top + h;
                var want = inside ? image.Row(y - top).Slice((x - left) * 3, 3).ToArray() : [200, 201, 202];
                p.Should().Equal(want, $"pixel ({x}, {y})");
            }
        }
    }

    [Fact]
    public void Pad_and_crop_agree_on_a_square_image_and_differ_on_a_wide_one()
    {
        var processor = LlavaImageProcessor.FromPreprocessorConfig(Path.Combine(ImageDir, "s16c14", "preprocessor_config.json"));
        using var square = ImageCodec.DecodeFile(Path.Combine(ImageDir, "square_30x30.png"));
        using var wide = ImageCodec.DecodeFile(Path.Combine(ImageDir, "wide_37x23.png"));

        processor.Preprocess(square, ImageAspectMode.Pad).Should().Equal(processor.Preprocess(square, ImageAspectMode.Crop));
        processor.Preprocess(wide, ImageAspectMode.Pad).Should().NotEqual(processor.Preprocess(wide, ImageAspectMode.Crop));
        processor.Preprocess(wide).Should().Equal(processor.Preprocess(wide, ImageAspectMode.Crop), "a CLIPImageProcessor config defaults to crop");
    }

    [Theory]
    [InlineData("\"pad\"", ImageAspectMode.Pad)]
    [InlineData("\"square\"", ImageAspectMode.Crop)]
    [InlineData("null", ImageAspectMode.Crop)]
    [InlineData(null, ImageAspectMode.Crop)]
    public void Original_layout_takes_the_mode_from_image_aspect_ratio(string? value, ImageAspectMode expected)
    {
        using var dirs = new TempFolders();
        var model = dirs.Make("model", config: value is null ? "{\"model_type\": \"llava_llama\"}" : $"{{\"image_aspect_ratio\": {value}}}");
        var tower = dirs.Make("tower", preprocessor: ClipConfig());

        LlavaImageProcessor.FromModelFolder(model, tower).DefaultMode.Should().Be(expected);
        LlavaImageProcessor.ReadImageAspectRatio(Path.Combine(model, "config.json")).Should().Be(expected);
    }

    [Theory]
    [InlineData("LlavaImageProcessor", "true", ImageAspectMode.Pad)]
    [InlineData("LlavaImageProcessor", "false", ImageAspectMode.Crop)]
    [InlineData("LlavaImageProcessor", null, ImageAspectMode.Crop)]
    [InlineData("CLIPImageProcessor", null, ImageAspectMode.Crop)]
    [InlineData("CLIPImageProcessor", "true", ImageAspectMode.Crop)] // CLIP's processor has no do_pad
    public void Llava_hf_layout_takes_the_mode_from_the_processor_config(string type, string? doPad, ImageAspectMode expected)
    {
        using var dirs = new TempFolders();
        var model = dirs.Make("model", config: "{\"model_type\": \"llava\"}", preprocessor: ClipConfig(type, doPad));

        var processor = LlavaImageProcessor.FromModelFolder(model);

        processor.DefaultMode.Should().Be(expected);
        processor.Height.Should().Be(14);
        processor.Width.Should().Be(14);
    }

    [Fact]
    public void An_explicit_mode_overrides_both_layouts()
    {
        using var dirs = new TempFolders();
        var original = dirs.Make("orig", config: "{\"image_aspect_ratio\": \"pad\"}");
        var tower = dirs.Make("tower", preprocessor: ClipConfig());
        var hf = dirs.Make("hf", preprocessor: ClipConfig("LlavaImageProcessor", "true"));

        LlavaImageProcessor.FromModelFolder(original, tower, ImageAspectMode.Crop).DefaultMode.Should().Be(ImageAspectMode.Crop);
        LlavaImageProcessor.FromModelFolder(hf, mode: ImageAspectMode.Crop).DefaultMode.Should().Be(ImageAspectMode.Crop);
        LlavaImageProcessor.FromModelFolder(tower, mode: ImageAspectMode.Pad).DefaultMode.Should().Be(ImageAspectMode.Pad);
        LlavaImageProcessor.FromPreprocessorConfig(Path.Combine(hf, "preprocessor_config.json"), ImageAspectMode.Crop).DefaultMode.Should().Be(ImageAspectMode.Crop);
    }

    [Fact]
    public void An_unsupported_image_aspect_ratio_is_refused_naming_the_file_and_value()
    {
        using var dirs = new TempFolders();
        var model = dirs.Make("model", config: "{\"image_aspect_ratio\": \"anyres\"}");
        var tower = dirs.Make("tower", preprocessor: ClipConfig());

        var act = () => LlavaImageProcessor.FromModelFolder(model, tower);

        act.Should().Throw<ImageProcessorConfigException>()
            .Where(e => e.Path == Path.Combine(model, "config.json") && e.Message.Contains("\"anyres\"") && e.Message.Contains("\"pad\""));
    }

    [Fact]
    public void A_missing_or_broken_preprocessor_config_is_refused_naming_the_file()
    {
        using var dirs = new TempFolders();
        var empty = dirs.Make("empty", config: "{}");
        var broken = dirs.Make("broken", preprocessor: "{\"size\": ");
        var badSize = dirs.Make("badsize", preprocessor: "{\"size\": {\"height\": 14, \"width\": 14}}");

        ((Action)(() => LlavaImageProcessor.FromModelFolder(empty))).Should().Throw<ImageProcessorConfigException>()
            .Where(e => e.Path == Path.Combine(empty, "preprocessor_config.json") && e.Message.Contains("not found"));
        ((Action)(() => LlavaImageProcessor.FromModelFolder(broken))).Should().Throw<ImageProcessorConfigException>()
            .Where(e => e.Path == Path.Combine(broken, "preprocessor_config.json") && e.Message.Contains("JSON"));
        ((Action)(() => LlavaImageProcessor.FromModelFolder(badSize))).Should().Throw<ImageProcessorConfigException>()
            .Where(e => e.Message.StartsWith(Path.Combine(badSize, "preprocessor_config.json")) && e.Message.Contains("shortest_edge"));
    }

    [Fact]
    public void An_image_that_fails_to_decode_names_the_file_and_the_decoders_reason()
    {
        using var dirs = new TempFolders();
        var folder = dirs.Make("images");
        var text = Path.Combine(folder, "not-an-image.png");
        File.WriteAllText(text, "hello");
        var truncated = Path.Combine(folder, "truncated.png");
        var png = File.ReadAllBytes(Path.Combine(ImageDir, "square_30x30.png"));
        File.WriteAllBytes(truncated, png[..(png.Length / 2)]);
        var processor = LlavaImageProcessor.FromPreprocessorConfig(Path.Combine(ImageDir, "s14c14", "preprocessor_config.json"));

        ((Action)(() => processor.Preprocess(text, ImageAspectMode.Pad))).Should().Throw<ImageFormatException>()
            .Where(e => e.ImageSource == text && e.Message.StartsWith(text) && e.Message.Contains("not a PNG, JPEG or WebP"));
        ((Action)(() => processor.Preprocess(truncated))).Should().Throw<ImagingException>()
            .Where(e => e.ImageSource == truncated && e.Message.StartsWith(truncated) && e.Reason.Length > 0);
        var missing = Path.Combine(folder, "missing.png");
        ((Action)(() => processor.Preprocess(missing))).Should().Throw<FileNotFoundException>()
            .Where(e => e.Message.Contains(missing));
    }

    [Fact]
    public void Decoding_ignores_exif_orientation_as_llava_does_unless_told_otherwise()
    {
        var processor = LlavaImageProcessor.FromPreprocessorConfig(Path.Combine(ImageDir, "s14c14", "preprocessor_config.json"));

        processor.DecodeOptions.ApplyExifOrientation.Should().BeFalse();
    }

    private static string ClipConfig(string type = "CLIPImageProcessor", string? doPad = null) =>
        $$"""
        {"crop_size": {"height": 14, "width": 14}, "size": {"shortest_edge": 14}, "resample": 3,
         "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
         "image_processor_type": "{{type}}"{{(doPad is null ? "" : $", \"do_pad\": {doPad}")}}}
        """;

    private sealed class TempFolders : IDisposable
    {
        private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("llava-images-");

        public string Make(string name, string? config = null, string? preprocessor = null)
        {
            var dir = Path.Combine(_root.FullName, name);
            Directory.CreateDirectory(dir);
            if (config is not null)
            {
                File.WriteAllText(Path.Combine(dir, "config.json"), config);
            }
            if (preprocessor is not null)
            {
                File.WriteAllText(Path.Combine(dir, "preprocessor_config.json"), preprocessor);
            }
            return dir;
        }

        public void Dispose() => _root.Delete(recursive: true);
    }
}
