using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SynthVlm.Clip.Tiny;
using SynthVlm.Onnx.Builder;
using SynthVlm.Testing;

namespace SynthVlm.Clip.Tests.Tiny;

public sealed class TinyClipModelTests
{
    // Float32 graph against a double reference through two 2-layer towers: observed errors are
    // ~2e-7 on unit-norm embeddings and ~2e-5 on logits of magnitude ~10 (100·cos). 1e-4 is the
    // contract's bound; a wiring error (pooling row, mask, LN, transpose) moves values by >1e-2.
    private const double Tolerance = 1e-4;

    private static readonly TinyClipConfig Config = new();
    private static readonly Lazy<byte[]> DefaultModel = new(() => TinyClipModel.Build(Config).ToBytes());

    private static int Bos => Config.BosTokenId;
    private static int Eos => Config.EosTokenId;

    /// <summary>Two captions of different lengths, padded to 9 with <paramref name="pad"/>.</summary>
    private static (long[][] Ids, long[][] Mask) Texts(long pad) =>
    (
        [[Bos, 17, 305, 6, 999, 42, Eos, pad, pad], [Bos, 73, Eos, pad, pad, pad, pad, pad, pad]],
        [[1, 1, 1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0, 0, 0, 0]]
    );

    private static float[] Images(int count)
    {
        // Values like normalised pixels (about ±2), plus a per-image ramp so the images differ in structure.
        var size = Config.ImageSize;
        var pixels = new WeightGenerator(99).Normal(1f, count, 3, size, size);
        for (var i = 0; i < pixels.Length; i++)
        {
            var x = i % size;
            var n = i / (3 * size * size);
            pixels[i] += (n == 0 ? x : size - x) / (float)size;
        }
        return pixels;
    }

    private static Dictionary<string, (float[] Values, long[] Shape)> Run(InferenceSession session, long[][] ids, long[][] mask, float[] pixels, int images)
    {
        var seq = ids[0].Length;
        using var vIds = OrtValue.CreateTensorValueFromMemory(ids.SelectMany(r => r).ToArray(), [ids.Length, seq]);
        using var vMask = OrtValue.CreateTensorValueFromMemory(mask.SelectMany(r => r).ToArray(), [mask.Length, seq]);
        using var vPix = OrtValue.CreateTensorValueFromMemory(pixels, [images, 3, Config.ImageSize, Config.ImageSize]);
        string[] outputs = [TinyClipModel.LogitsPerImage, TinyClipModel.LogitsPerText, TinyClipModel.TextEmbeds, TinyClipModel.ImageEmbeds];
        return RunFloats(session, new() { [TinyClipModel.InputIds] = vIds, [TinyClipModel.AttentionMask] = vMask, [TinyClipModel.PixelValues] = vPix }, outputs);
    }

    /// <summary>One run; each output copied out as floats with its shape.</summary>
    private static Dictionary<string, (float[] Values, long[] Shape)> RunFloats(InferenceSession session, Dictionary<string, OrtValue> inputs, string[] outputs)
    {
        using var runOptions = new RunOptions();
        using var result = session.Run(runOptions, inputs, outputs);
        return outputs.Select((o, i) => (o, result[i])).ToDictionary(
            p => p.o, p => (p.Item2.GetTensorDataAsSpan<float>().ToArray(), p.Item2.GetTensorTypeAndShape().Shape));
    }

    private static void ShouldMatch(float[] actual, double[][] expected, string what)
    {
        var flat = expected.SelectMany(r => r).ToArray();
        actual.Should().HaveCount(flat.Length, what);
        for (var i = 0; i < flat.Length; i++)
        {
            Math.Abs(actual[i] - flat[i]).Should().BeLessThanOrEqualTo(Tolerance, $"{what}[{i}]: actual {actual[i]}, expected {flat[i]}");
        }
    }

    [Fact]
    public void All_four_outputs_match_a_plain_csharp_forward_pass()
    {
        using var session = new InferenceSession(DefaultModel.Value);
        var (ids, mask) = Texts(Eos);
        var pixels = Images(2);

        var y = Run(session, ids, mask, pixels, 2);

        var reference = new TinyClipReference(TinyClipWeights.Generate(Config));
        var text = reference.TextEmbeds(ids, mask);
        var image = reference.ImageEmbeds(pixels, 2);
        var perText = reference.LogitsPerText(text, image);
        var perImage = Enumerable.Range(0, 2).Select(i => perText.Select(row => row[i]).ToArray()).ToArray();
        y[TinyClipModel.TextEmbeds].Shape.Should().Equal(2, Config.ProjectionDim);
        y[TinyClipModel.ImageEmbeds].Shape.Should().Equal(2, Config.ProjectionDim);
        y[TinyClipModel.LogitsPerText].Shape.Should().Equal(2, 2);
        y[TinyClipModel.LogitsPerImage].Shape.Should().Equal(2, 2);
        ShouldMatch(y[TinyClipModel.TextEmbeds].Values, text, "text_embeds");
        ShouldMatch(y[TinyClipModel.ImageEmbeds].Values, image, "image_embeds");
        ShouldMatch(y[TinyClipModel.LogitsPerText].Values, perText, "logits_per_text");
        ShouldMatch(y[TinyClipModel.LogitsPerImage].Values, perImage, "logits_per_image");
        // Random weights still give distinct embeddings per input, so the comparison has teeth.
        Math.Abs(text[0][0] - text[1][0]).Should().BeGreaterThan(1e-3);
        Math.Abs(image[0][0] - image[1][0]).Should().BeGreaterThan(1e-3);
    }

    [Fact]
    public void Batches_of_different_sizes_give_the_same_rows()
    {
        using var session = new InferenceSession(DefaultModel.Value);
        var (ids, mask) = Texts(Eos);
        var pixels = Images(2);
        var both = Run(session, ids, mask, pixels, 2);
        var single = Run(session, [ids[1]], [mask[1]], pixels.AsSpan(pixels.Length / 2).ToArray(), 1);
        single[TinyClipModel.LogitsPerImage].Shape.Should().Equal(1, 1);
        var rowBoth = both[TinyClipModel.TextEmbeds].Values.AsSpan(Config.ProjectionDim).ToArray();
        ShouldMatch(single[TinyClipModel.TextEmbeds].Values, [rowBoth.Select(v => (double)v).ToArray()], "text row 1 alone");
        var imageBoth = both[TinyClipModel.ImageEmbeds].Values.AsSpan(Config.ProjectionDim).ToArray();
        ShouldMatch(single[TinyClipModel.ImageEmbeds].Values, [imageBoth.Select(v => (double)v).ToArray()], "image 1 alone");
    }

    [Fact]
    public void Session_metadata_matches_the_optimum_clip_contract()
    {
        using var session = new InferenceSession(DefaultModel.Value);

        session.InputNames.Should().BeEquivalentTo(["input_ids", "attention_mask", "pixel_values"]);
        var ids = session.InputMetadata["input_ids"];
        ids.ElementDataType.Should().Be(TensorElementType.Int64);
        ids.SymbolicDimensions.Should().Equal("text_batch_size", "sequence_length");
        ids.Dimensions.Should().Equal(-1, -1);
        var mask = session.InputMetadata["attention_mask"];
        mask.ElementDataType.Should().Be(TensorElementType.Int64);
        mask.SymbolicDimensions.Should().Equal("text_batch_size", "sequence_length");
        var pixels = session.InputMetadata["pixel_values"];
        pixels.ElementDataType.Should().Be(TensorElementType.Float);
        pixels.Dimensions.Should().Equal(-1, 3, 224, 224);
        pixels.SymbolicDimensions[0].Should().Be("image_batch_size");

        session.OutputNames.Should().Equal("logits_per_image", "logits_per_text", "text_embeds", "image_embeds");
        session.OutputMetadata.Values.Should().OnlyContain(o => o.ElementDataType == TensorElementType.Float);
        session.OutputMetadata[session.OutputNames[0]].SymbolicDimensions.Should().Equal("image_batch_size", "text_batch_size");
        session.OutputMetadata[session.OutputNames[1]].SymbolicDimensions.Should().Equal("text_batch_size", "image_batch_size");
        session.OutputMetadata[session.OutputNames[2]].SymbolicDimensions[0].Should().Be("text_batch_size");
        session.OutputMetadata[session.OutputNames[2]].Dimensions.Should().Equal(-1, Config.ProjectionDim);
        session.OutputMetadata[session.OutputNames[3]].SymbolicDimensions[0].Should().Be("image_batch_size");
        session.OutputMetadata[session.OutputNames[3]].Dimensions.Should().Equal(-1, Config.ProjectionDim);
    }

    [Fact]
    public void Pad_value_does_not_change_text_embeds_and_pooling_is_at_eos()
    {
        using var session = new InferenceSession(DefaultModel.Value);
        var pixels = Images(1);
        var (idsEos, mask) = Texts(Eos);
        var (idsZero, _) = Texts(0);

        var withEos = Run(session, idsEos, mask, pixels, 1)[TinyClipModel.TextEmbeds].Values;
        var withZero = Run(session, idsZero, mask, pixels, 1)[TinyClipModel.TextEmbeds].Values;

        // Causal attention means the EOS state never sees what follows it.
        for (var i = 0; i < withEos.Length; i++)
        {
            withZero[i].Should().BeApproximately(withEos[i], 1e-6f, $"text_embeds[{i}]");
        }
        // And the pooled row really is the EOS row: pooling at BOS or the token before EOS differs.
        var reference = new TinyClipReference(TinyClipWeights.Generate(Config));
        foreach (var wrong in new[] { 0, 5 })
        {
            var projected = reference.TextProjected(idsEos[0], mask[0], wrong);
            var norm = Math.Sqrt(projected.Sum(v => v * v));
            projected.Select((v, i) => Math.Abs((v / norm) - withEos[i])).Max().Should().BeGreaterThan(1e-2, $"pooling at {wrong}");
        }
    }

    [Fact]
    public void Attention_mask_is_consumed_as_a_key_padding_mask()
    {
        using var session = new InferenceSession(DefaultModel.Value);
        var pixels = Images(1);
        var (ids, mask) = Texts(Eos);
        var holed = mask.Select(r => r.ToArray()).ToArray();
        holed[0][3] = 0; // hide a token before EOS

        var full = Run(session, ids, mask, pixels, 1)[TinyClipModel.TextEmbeds].Values;
        var withHole = Run(session, ids, holed, pixels, 1)[TinyClipModel.TextEmbeds].Values;

        var reference = new TinyClipReference(TinyClipWeights.Generate(Config));
        ShouldMatch(withHole, reference.TextEmbeds(ids, holed), "text_embeds with a masked token");
        full.Take(Config.ProjectionDim).Zip(withHole, (a, b) => Math.Abs(a - b)).Max().Should().BeGreaterThan(1e-3f);
        // The second caption's mask did not change, so neither does its embedding.
        full.Skip(Config.ProjectionDim).Should().Equal(withHole.Skip(Config.ProjectionDim));
    }

    [Fact]
    public void Logits_are_one_hundred_times_the_cosine_and_transposes_of_each_other()
    {
        using var session = new InferenceSession(DefaultModel.Value);
        var (ids, mask) = Texts(Eos);
        var y = Run(session, ids, mask, Images(3), 3);
        var t = y[TinyClipModel.TextEmbeds].Values;
        var im = y[TinyClipModel.ImageEmbeds].Values;
        var perText = y[TinyClipModel.LogitsPerText].Values;
        var perImage = y[TinyClipModel.LogitsPerImage].Values;
        y[TinyClipModel.LogitsPerImage].Shape.Should().Equal(3, 2);
        var p = Config.ProjectionDim;
        for (var a = 0; a < 2; a++)
        {
            Math.Sqrt(t.Skip(a * p).Take(p).Select(v => (double)v * v).Sum()).Should().BeApproximately(1, 1e-5);
            for (var b = 0; b < 3; b++)
            {
                var cos = Enumerable.Range(0, p).Sum(c => (double)t[(a * p) + c] * im[(b * p) + c]);
                perText[(a * 3) + b].Should().BeApproximately((float)(100 * cos), 1e-4f);
                perImage[(b * 2) + a].Should().Be(perText[(a * 3) + b]);
            }
        }
    }

    [Fact]
    public async Task WriteFolder_writes_a_loadable_model_and_hf_shaped_configs()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"tinyclip_{Guid.NewGuid():N}");
        try
        {
            TinyClipModel.WriteFolder(dir, Config);

            var modelPath = Path.Combine(dir, "model.onnx");
            new FileInfo(modelPath).Length.Should().BeLessThan(2_000_000);
            (await File.ReadAllBytesAsync(modelPath)).Should().Equal(DefaultModel.Value);
            using (var session = new InferenceSession(modelPath))
            {
                session.OutputNames.Should().HaveCount(4);
            }

            using var config = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(dir, "config.json")));
            var root = config.RootElement;
            root.GetProperty("model_type").GetString().Should().Be("clip");
            root.GetProperty("projection_dim").GetInt32().Should().Be(Config.ProjectionDim);
            root.GetProperty("logit_scale_init_value").GetDouble().Should().BeApproximately(Math.Log(100), 1e-6);
            var text = root.GetProperty("text_config");
            text.GetProperty("vocab_size").GetInt32().Should().Be(Config.VocabSize);
            text.GetProperty("hidden_size").GetInt32().Should().Be(Config.TextHidden);
            text.GetProperty("intermediate_size").GetInt32().Should().Be(Config.TextMlp);
            text.GetProperty("num_attention_heads").GetInt32().Should().Be(Config.TextHeads);
            text.GetProperty("num_hidden_layers").GetInt32().Should().Be(Config.TextLayers);
            text.GetProperty("max_position_embeddings").GetInt32().Should().Be(77);
            text.GetProperty("hidden_act").GetString().Should().Be("quick_gelu");
            text.GetProperty("bos_token_id").GetInt32().Should().Be(Config.VocabSize - 2);
            text.GetProperty("eos_token_id").GetInt32().Should().Be(Config.VocabSize - 1);
            text.GetProperty("pad_token_id").GetInt32().Should().Be(Config.VocabSize - 1);
            var vision = root.GetProperty("vision_config");
            vision.GetProperty("image_size").GetInt32().Should().Be(224);
            vision.GetProperty("patch_size").GetInt32().Should().Be(32);
            vision.GetProperty("hidden_size").GetInt32().Should().Be(Config.VisionHidden);
            vision.GetProperty("num_hidden_layers").GetInt32().Should().Be(Config.VisionLayers);

            using var pre = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(dir, "preprocessor_config.json")));
            var p = pre.RootElement;
            p.GetProperty("image_processor_type").GetString().Should().Be("CLIPImageProcessor");
            p.GetProperty("do_resize").GetBoolean().Should().BeTrue();
            p.GetProperty("size").GetProperty("shortest_edge").GetInt32().Should().Be(224);
            p.GetProperty("resample").GetInt32().Should().Be(3);
            p.GetProperty("do_center_crop").GetBoolean().Should().BeTrue();
            p.GetProperty("crop_size").GetProperty("height").GetInt32().Should().Be(224);
            p.GetProperty("crop_size").GetProperty("width").GetInt32().Should().Be(224);
            p.GetProperty("do_rescale").GetBoolean().Should().BeTrue();
            p.GetProperty("rescale_factor").GetDouble().Should().Be(1.0 / 255);
            p.GetProperty("do_normalize").GetBoolean().Should().BeTrue();
            p.GetProperty("do_convert_rgb").GetBoolean().Should().BeTrue();
            p.GetProperty("image_mean").EnumerateArray().Select(e => e.GetDouble()).Should().Equal(0.48145466, 0.4578275, 0.40821073);
            p.GetProperty("image_std").EnumerateArray().Select(e => e.GetDouble()).Should().Equal(0.26862954, 0.26130258, 0.27577711);
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, true);
            }
        }
    }

    [Fact]
    public async Task Graph_passes_the_onnx_checker_and_strict_shape_inference()
    {
        const string Script = """
            import sys, onnx
            from onnx import shape_inference
            m = onnx.load(sys.argv[1])
            onnx.checker.check_model(m, full_check=True)
            inferred = shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
            for o in inferred.graph.output:
                dims = [d.dim_param or str(d.dim_value) for d in o.type.tensor_type.shape.dim]
                print(o.name, o.type.tensor_type.elem_type, ",".join(dims))
            """;
        var dir = Path.Combine(Path.GetTempPath(), $"tinyclip_check_{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            await File.WriteAllBytesAsync(Path.Combine(dir, "model.onnx"), DefaultModel.Value);
            await File.WriteAllTextAsync(Path.Combine(dir, "check.py"), Script);
            var result = await ChildProcess.RunPythonAsync(Path.Combine(dir, "check.py"), [Path.Combine(dir, "model.onnx")]).WithTimeout(TimeSpan.FromSeconds(60));
            result.ExitCode.Should().Be(0, result.StandardError);
            result.Lines.Should().Equal(
                "logits_per_image 1 image_batch_size,text_batch_size",
                "logits_per_text 1 text_batch_size,image_batch_size",
                $"text_embeds 1 text_batch_size,{Config.ProjectionDim}",
                $"image_embeds 1 image_batch_size,{Config.ProjectionDim}");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Same_config_gives_identical_bytes_and_the_seed_changes_them()
    {
        var again = TinyClipModel.Build(Config).ToBytes();
        again.Should().Equal(DefaultModel.Value);
        var other = TinyClipModel.Build(Config with { Seed = Config.Seed + 1 }).ToBytes();
        other.Should().NotEqual(DefaultModel.Value);
        other.Length.Should().Be(again.Length);
    }

    [Fact]
    public void Non_default_sizes_build_and_match_the_reference()
    {
        var config = new TinyClipConfig { VocabSize = 300, TextHidden = 24, TextHeads = 3, TextLayers = 1, TextMlp = 40, ImageSize = 64, PatchSize = 16, VisionHidden = 16, VisionHeads = 2, VisionLayers = 3, VisionMlp = 20, ProjectionDim = 8, LogitScale = 2f, Seed = 5 };
        using var session = new InferenceSession(TinyClipModel.Build(config).ToBytes());
        long[][] ids = [[298, 10, 20, 299]];
        long[][] mask = [[1, 1, 1, 1]];
        var pixels = new WeightGenerator(1).Normal(1f, 1, 3, 64, 64);
        using var vIds = OrtValue.CreateTensorValueFromMemory(ids[0], [1, 4]);
        using var vMask = OrtValue.CreateTensorValueFromMemory(mask[0], [1, 4]);
        using var vPix = OrtValue.CreateTensorValueFromMemory(pixels, [1, 3, 64, 64]);
        var result = RunFloats(session, new() { ["input_ids"] = vIds, ["attention_mask"] = vMask, ["pixel_values"] = vPix }, ["logits_per_text", "text_embeds", "image_embeds"]);
        var reference = new TinyClipReference(TinyClipWeights.Generate(config));
        var text = reference.TextEmbeds(ids, mask);
        var image = reference.ImageEmbeds(pixels, 1);
        ShouldMatch(result["text_embeds"].Values, text, "text_embeds");
        ShouldMatch(result["image_embeds"].Values, image, "image_embeds");
        ShouldMatch(result["logits_per_text"].Values, reference.LogitsPerText(text, image), "logits (scale e^2)");
    }

    [Fact]
    public void Invalid_configs_are_rejected_naming_the_setting()
    {
        var cases = new (TinyClipConfig Config, string Name)[]
        {
            (Config with { TextHeads = 3 }, "TextHeads"),
            (Config with { PatchSize = 30 }, "PatchSize"),
            (Config with { VocabSize = 2 }, "VocabSize"),
            (Config with { ProjectionDim = 0 }, "ProjectionDim"),
            (Config with { LogitScale = float.NaN }, "LogitScale"),
        };
        foreach (var (config, name) in cases)
        {
            var build = () => TinyClipModel.Build(config);
            build.Should().Throw<ArgumentException>().Which.ParamName.Should().Be(name);
        }
    }
}
