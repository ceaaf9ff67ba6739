using SynthVlm.Clip.Tiny;
using SynthVlm.Imaging;
using SynthVlm.Onnx.Builder;

namespace SynthVlm.Clip.Tests;

/// <summary>The model folder: the tiny set loads and scores; every missing file and contract mismatch is named.</summary>
public sealed class ClipModelTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("clip-model-");

    public void Dispose() => _root.Delete(recursive: true);

    private string TinyFolder(string name = "clip")
    {
        var dir = Path.Combine(_root.FullName, name);
        DefaultModels.WriteTinyClip(dir);
        return dir;
    }

    private static RgbImage Picture(int width, int height, int seed)
    {
        var image = RgbImage.Allocate(width, height);
        var px = image.Pixels;
        for (var i = 0; i < px.Length; i++)
        {
            px[i] = (byte)((i * (3 + seed)) >> 2);
        }
        return image;
    }

    [Fact]
    public void Tiny_set_loads_encodes_batches_and_gives_unit_embeddings()
    {
        using var model = ClipModel.Load(TinyFolder());
        model.ContextLength.Should().Be(77);
        model.EmbeddingSize.Should().Be(new TinyClipConfig().ProjectionDim);
        model.ImageProcessor.TensorLength.Should().Be(3 * 224 * 224);

        using var a = Picture(300, 200, 1);
        using var b = Picture(224, 224, 2);
        var pixels = new float[2 * model.ImageProcessor.TensorLength];
        model.ImageProcessor.Preprocess(a, pixels.AsSpan(0, model.ImageProcessor.TensorLength));
        model.ImageProcessor.Preprocess(b, pixels.AsSpan(model.ImageProcessor.TensorLength));
        var both = model.Encode(["a red bus", "stripes and dots on a wall"], pixels, 2);
        var first = model.Encode(["a red bus"], pixels.AsMemory(0, model.ImageProcessor.TensorLength), 1);

        for (var i = 0; i < 2; i++)
        {
            System.Numerics.Tensors.TensorPrimitives.Norm(both.Text(i)).Should().BeApproximately(1f, 1e-5f);
            System.Numerics.Tensors.TensorPrimitives.Norm(both.Image(i)).Should().BeApproximately(1f, 1e-5f);
        }
        // A pair scores the same alone or in a batch padded to a longer caption.
        both.Cosine(0, 0).Should().BeApproximately(first.Cosine(0, 0), 1e-5);
        both.TokenCount(0).Should().Be(model.Tokenizer.Encode("a red bus").Length);
        both.Truncated(0).Should().BeFalse();
    }

    [Fact]
    public void Long_caption_is_truncated_and_says_so()
    {
        using var model = ClipModel.Load(TinyFolder());
        var pixels = new float[model.ImageProcessor.TensorLength];
        var embeddings = model.Encode([string.Join(' ', Enumerable.Repeat("a bus on a street", 40))], pixels, 1);
        embeddings.Truncated(0).Should().BeTrue();
        embeddings.TokenCount(0).Should().Be(77);
    }

    [Theory]
    [InlineData("model.onnx", "model.onnx: file not found")]
    [InlineData("preprocessor_config.json", "preprocessor_config.json: file not found")]
    [InlineData("vocab.json", "tokenizer files unusable")]
    [InlineData("merges.txt", "tokenizer files unusable")]
    public void Missing_file_is_named(string file, string message)
    {
        var dir = TinyFolder();
        File.Delete(Path.Combine(dir, file));
        var act = () => ClipModel.Load(dir);
        act.Should().Throw<ClipModelException>().Where(e => e.Message.Contains(message, StringComparison.Ordinal));
    }

    [Fact]
    public void Missing_folder_says_how_to_make_one()
    {
        var act = () => ClipModel.Load(Path.Combine(_root.FullName, "nope"));
        act.Should().Throw<ClipModelException>().WithMessage("*model folder not found*init-tiny*");
    }

    [Fact]
    public void Model_that_is_not_onnx_is_refused_with_the_path()
    {
        var dir = TinyFolder();
        File.WriteAllText(Path.Combine(dir, "model.onnx"), "definitely not protobuf");
        var act = () => ClipModel.Load(dir);
        act.Should().Throw<ClipModelException>().Where(e => e.Message.StartsWith(Path.Combine(dir, "model.onnx"), StringComparison.Ordinal) && e.Message.Contains("ONNX Runtime cannot load it", StringComparison.Ordinal));
    }

    public static TheoryData<string, string> Mismatches() => new()
    {
        { "renamed-ids", "expected input 'input_ids' int64" },
        { "pixels-336", "input 'pixel_values' is [-1, 3, 336, 336] but preprocessor_config.json crops to 3x224x224" },
        { "extra-input", "unexpected input(s) 'token_type_ids'" },
        { "no-image-embeds", "expected output 'image_embeds'" },
    };

    [Theory]
    [MemberData(nameof(Mismatches))]
    public void Graph_that_breaks_the_contract_is_refused_saying_which_input_or_output(string variant, string message)
    {
        var dir = TinyFolder();
        var b = new OnnxModelBuilder("wrong");
        var ids = b.Input(variant == "renamed-ids" ? "ids" : "input_ids", TensorDataType.Int64, "text_batch_size", "sequence_length");
        var side = variant == "pixels-336" ? 336 : 224;
        var pixels = b.Input("pixel_values", TensorDataType.Float, "image_batch_size", 3, side, side);
        if (variant == "extra-input")
        {
            b.Input("token_type_ids", TensorDataType.Int64, "text_batch_size", "sequence_length");
        }
        var t = b.Node("Cast", [ids], attributes: [NodeAttribute.Int("to", (long)TensorDataType.Float)], outputs: ["text_embeds"])[0];
        b.Output(t, TensorDataType.Float, "text_batch_size", "sequence_length");
        if (variant != "no-image-embeds")
        {
            b.Output(b.Node("Identity", [pixels], outputs: ["image_embeds"])[0], TensorDataType.Float, "image_batch_size", 3, side, side);
        }
        b.Save(Path.Combine(dir, "model.onnx"));
        var act = () => ClipModel.Load(dir);
        act.Should().Throw<ClipModelException>().Where(e => e.Message.Contains(message, StringComparison.Ordinal), message);
    }

    [Fact]
    public void Ensure_writes_once_and_keeps_a_complete_folder()
    {
        var dir = Path.Combine(_root.FullName, "ensure", "clip");
        DefaultModels.EnsureTinyClip(dir).Should().Be(dir);
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(dir, "model.onnx"));
        DefaultModels.EnsureTinyClip(dir);
        File.GetLastWriteTimeUtc(Path.Combine(dir, "model.onnx")).Should().Be(stamp);
        Directory.GetDirectories(Path.Combine(_root.FullName, "ensure")).Should().ContainSingle("no staging folder is left behind");
        File.ReadAllBytes(Path.Combine(dir, "model.onnx")).Should().Equal(File.ReadAllBytes(Path.Combine(TinyFolder("again"), "model.onnx")), "the tiny set is deterministic");
    }

    [Fact]
    public void Concurrent_ensure_calls_all_get_the_same_complete_folder()
    {
        var dir = Path.Combine(_root.FullName, "race", "clip");
        var results = Enumerable.Range(0, 4).AsParallel().Select(_ => DefaultModels.EnsureTinyClip(dir)).ToArray();
        results.Should().OnlyContain(r => r == dir);
        using var model = ClipModel.Load(dir);
        model.EmbeddingSize.Should().BeGreaterThan(0);
    }
}
