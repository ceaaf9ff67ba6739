using SynthVlm.Onnx.Builder;

namespace SynthVlm.Blip.Tests;

public sealed class BlipItmModelLoadTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("blip-model-");

    public void Dispose() => _root.Delete(recursive: true);

    [Fact]
    public void Tiny_folder_loads_with_its_settings()
    {
        using var model = BlipItmModel.Load(BlipFixtures.TinyBlip, batchSize: 4);
        model.Config.ImageSize.Should().Be(32);
        model.ImageProcessor.Size.Should().Be(32);
        model.MaxTextLength.Should().Be(16);
        model.BatchSize.Should().Be(4);
        model.Tokenizer.DoLowerCase.Should().BeTrue();
    }

    [Fact]
    public void Missing_folder_and_missing_files_are_named()
    {
        var none = Path.Combine(_root.FullName, "none");
        var act = () => BlipItmModel.Load(none);
        act.Should().Throw<BlipModelException>().Where(e => e.Path == none && e.Message.Contains("model folder not found", StringComparison.Ordinal));

        foreach (var file in new[] { BlipItmModel.ModelFileName, BlipItmModel.ConfigFileName, BlipItmModel.VocabFileName })
        {
            var dir = BlipFixtures.CopyTiny(_root, "without-" + file);
            File.Delete(Path.Combine(dir, file));
            var load = () => BlipItmModel.Load(dir);
            load.Should().Throw<BlipModelException>()
                .Where(e => e.Path == Path.Combine(dir, file) && e.Problem.StartsWith("file not found", StringComparison.Ordinal), file);
        }
    }

    [Fact]
    public void Corrupt_onnx_file_is_named_with_onnx_runtime_reason()
    {
        var dir = BlipFixtures.CopyTiny(_root);
        File.WriteAllBytes(Path.Combine(dir, BlipItmModel.ModelFileName), [1, 2, 3, 4, 5, 6, 7, 8]);
        var act = () => BlipItmModel.Load(dir);
        act.Should().Throw<BlipModelException>()
            .Where(e => e.Path == Path.Combine(dir, "itm.onnx") && e.Problem.StartsWith("ONNX Runtime cannot load it", StringComparison.Ordinal));
    }

    public static TheoryData<string, string> BadConfigs() => new()
    {
        { "{ not json", "not valid JSON" },
        { "[1, 2]", "expected a JSON object; found Array" },
        { """{"max_text_length": 16}""", "missing \"image_size\"" },
        { """{"image_size": "32", "max_text_length": 16}""", "\"image_size\" must be an integer; found \"32\"" },
        { """{"image_size": 32, "max_text_length": 1}""", "\"max_text_length\" must be at least 2" },
        { """{"image_size": 32, "max_text_length": 16, "image_mean": [0.5, 0.5]}""", "\"image_mean\" must be an array of 3 numbers" },
        { """{"image_size": 32, "max_text_length": 16, "image_std": [0.5, 0, 0.5]}""", "\"image_std\" values must be positive" },
        { """{"image_size": 32, "max_text_length": 16, "resample": 7}""", "\"resample\": 7 is not supported" },
        { """{"image_size": 64, "max_text_length": 16}""", "input 'pixel_values' is [-1, 3, 32, 32] but blip_itm.json gives image_size 64" },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void Bad_config_is_refused_naming_the_key(string json, string message)
    {
        var dir = BlipFixtures.CopyTiny(_root);
        File.WriteAllText(Path.Combine(dir, BlipItmModel.ConfigFileName), json);
        var act = () => BlipItmModel.Load(dir);
        act.Should().Throw<BlipModelException>().Where(e => e.Message.Contains(message, StringComparison.Ordinal), message);
    }

    public static TheoryData<string, string> Mismatches() => new()
    {
        { "renamed-ids", "expected input 'input_ids' int64 [batch, sequence]; the model has inputs [pixel_values: float32 [batch, 3, 32, 32], ids: int64" },
        { "int32-mask", "expected input 'attention_mask' int64 [batch, sequence]" },
        { "extra-input", "unexpected input(s) 'token_type_ids'" },
        { "renamed-output", "expected output 'itm_logits' float32 [batch, 2]; the model has inputs" },
        { "three-logits", "expected output 'itm_logits' float32 [batch, 2]" },
        { "fixed-batch", "the batch axis is fixed (1, -1, -1)" },
        { "fixed-sequence", "the sequence axis is fixed (input_ids 35, attention_mask -1)" },
    };

    [Theory]
    [MemberData(nameof(Mismatches))]
    public void Graph_that_breaks_the_contract_is_refused_saying_what_was_expected_and_found(string variant, string message)
    {
        var dir = BlipFixtures.CopyTiny(_root);
        var b = new OnnxModelBuilder("wrong");
        Dim batch = variant == "fixed-batch" ? 1 : "batch";
        var pixels = b.Input("pixel_values", TensorDataType.Float, batch, 3, 32, 32);
        b.Input(variant == "renamed-ids" ? "ids" : "input_ids", TensorDataType.Int64, "batch", variant == "fixed-sequence" ? 35 : "sequence");
        b.Input("attention_mask", variant == "int32-mask" ? TensorDataType.Int32 : TensorDataType.Int64, "batch", "sequence");
        if (variant == "extra-input")
        {
            b.Input("token_type_ids", TensorDataType.Int64, "batch", "sequence");
        }
        var flat = b.Op("ReduceMean", [pixels], NodeAttribute.Ints("axes", [2, 3]), NodeAttribute.Int("keepdims", 0));
        var width = variant == "three-logits" ? 3 : 2;
        var sliced = b.Op("Slice", flat, b.Initializer("starts", [0L], 1), b.Initializer("ends", [(long)width], 1), b.Initializer("axes", [1L], 1));
        var output = b.Node("Identity", [sliced], outputs: [variant == "renamed-output" ? "logits" : "itm_logits"])[0];
        b.Output(output, TensorDataType.Float, batch, width);
        b.Save(Path.Combine(dir, BlipItmModel.ModelFileName));
        var act = () => BlipItmModel.Load(dir);
        act.Should().Throw<BlipModelException>()
            .Where(e => e.Path == Path.Combine(dir, "itm.onnx") && e.Message.Contains(message, StringComparison.Ordinal), message);
    }
}
