using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using SynthVlm.Diffusion.Tiny;
using SynthVlm.Tokenizers;

namespace SynthVlm.Diffusion.Tests.Tiny;

/// <summary>Writes one base and one refiner folder for the class, deleted afterwards.</summary>
public sealed class TinySdxlFolders : IDisposable
{
    public TinySdxlFolders()
    {
        Root = Directory.CreateTempSubdirectory("tiny-sdxl-").FullName;
        TinySdxl.WriteBase(Base);
        TinySdxl.WriteRefiner(Refiner);
    }

    public string Root { get; }

    public string Base => Path.Combine(Root, "base");

    public string Refiner => Path.Combine(Root, "refiner");

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

public sealed class TinySdxlFolderTests(TinySdxlFolders folders) : IClassFixture<TinySdxlFolders>
{
    private static JsonElement ReadJson(string path) => JsonDocument.Parse(File.ReadAllBytes(path)).RootElement;

    private static string[] FilesUnder(string dir) =>
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(dir, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Folders_hold_exactly_the_optimum_layout(bool refiner)
    {
        var dir = refiner ? folders.Refiner : folders.Base;
        FilesUnder(dir).Should().Equal(TinySdxl.ExpectedFiles(refiner).Order(StringComparer.Ordinal));
        TinySdxl.ExpectedFiles(refiner).Should().Contain(["unet/model.onnx", "vae_decoder/config.json", "tokenizer_2/tokenizer.json"]);
        if (refiner)
        {
            Directory.Exists(Path.Combine(dir, "text_encoder")).Should().BeFalse();
            Directory.Exists(Path.Combine(dir, "tokenizer")).Should().BeFalse();
        }
        else
        {
            TinySdxl.ExpectedFiles(refiner).Should().Contain(["text_encoder/model.onnx", "tokenizer/vocab.json"]);
        }
    }

    [Theory]
    [InlineData(false, "StableDiffusionXLPipeline")]
    [InlineData(true, "StableDiffusionXLImg2ImgPipeline")]
    public void Model_index_names_the_pipeline_and_its_prompt_settings(bool refiner, string className)
    {
        var index = ReadJson(Path.Combine(refiner ? folders.Refiner : folders.Base, "model_index.json"));
        index.GetProperty("_class_name").GetString().Should().Be(className);
        index.GetProperty("force_zeros_for_empty_prompt").GetBoolean().Should().Be(!refiner);
        index.GetProperty("requires_aesthetics_score").GetBoolean().Should().Be(refiner);
        index.GetProperty("text_encoder_2")[1].GetString().Should().Be("CLIPTextModelWithProjection");
        index.GetProperty("text_encoder")[0].ValueKind.Should().Be(refiner ? JsonValueKind.Null : JsonValueKind.String);
    }

    [Fact]
    public void Scheduler_config_has_the_sdxl_values()
    {
        var s = ReadJson(Path.Combine(folders.Base, "scheduler", "scheduler_config.json"));
        s.GetProperty("_class_name").GetString().Should().Be("EulerDiscreteScheduler");
        s.GetProperty("num_train_timesteps").GetInt32().Should().Be(1000);
        s.GetProperty("beta_start").GetDouble().Should().Be(0.00085);
        s.GetProperty("beta_end").GetDouble().Should().Be(0.012);
        s.GetProperty("beta_schedule").GetString().Should().Be("scaled_linear");
        s.GetProperty("steps_offset").GetInt32().Should().Be(1);
        s.GetProperty("timestep_spacing").GetString().Should().Be("leading");
        s.GetProperty("interpolation_type").GetString().Should().Be("linear");
        s.GetProperty("use_karras_sigmas").GetBoolean().Should().BeFalse();
        s.GetProperty("prediction_type").GetString().Should().Be("epsilon");
        s.GetProperty("trained_betas").ValueKind.Should().Be(JsonValueKind.Null);
        File.ReadAllBytes(Path.Combine(folders.Refiner, "scheduler", "scheduler_config.json"))
            .Should().Equal(File.ReadAllBytes(Path.Combine(folders.Base, "scheduler", "scheduler_config.json")));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Component_configs_agree_with_the_graphs(bool refiner)
    {
        var dir = refiner ? folders.Refiner : folders.Base;
        var unet = ReadJson(Path.Combine(dir, "unet", "config.json"));
        using var session = new InferenceSession(Path.Combine(dir, "unet", "model.onnx"));
        var context = session.InputMetadata["encoder_hidden_states"].Dimensions[2];
        var timeIds = session.InputMetadata["time_ids"].Dimensions[1];
        var pooled = session.InputMetadata["text_embeds"].Dimensions[1];
        unet.GetProperty("cross_attention_dim").GetInt64().Should().Be(context).And.Be(refiner ? 40 : 64);
        unet.GetProperty("in_channels").GetInt32().Should().Be(4);
        unet.GetProperty("sample_size").GetInt32().Should().Be(8);
        unet.GetProperty("projection_class_embeddings_input_dim").GetInt64()
            .Should().Be((unet.GetProperty("addition_time_embed_dim").GetInt64() * timeIds) + pooled);

        foreach (var vae in new[] { "vae_decoder", "vae_encoder" })
        {
            var config = ReadJson(Path.Combine(dir, vae, "config.json"));
            config.GetProperty("scaling_factor").GetDouble().Should().Be(0.13025);
            config.GetProperty("force_upcast").GetBoolean().Should().BeTrue();
            config.GetProperty("latent_channels").GetInt32().Should().Be(4);
        }

        var te2 = ReadJson(Path.Combine(dir, "text_encoder_2", "config.json"));
        te2.GetProperty("projection_dim").GetInt64().Should().Be(pooled);
        te2.GetProperty("num_hidden_layers").GetInt32().Should().Be(32);
    }

    [Fact]
    public void Tokenizers_pad_as_sdxl_and_share_the_encoders_vocabulary()
    {
        var t1 = ClipTokenizer.FromFolder(Path.Combine(folders.Base, "tokenizer"));
        var t2 = ClipTokenizer.FromFolder(Path.Combine(folders.Base, "tokenizer_2"));
        t1.PadId.Should().Be(t1.EosId);
        t2.PadId.Should().Be(0);
        t2.IdToToken(0).Should().Be("!");
        t1.VocabSize.Should().Be(t2.VocabSize);
        // The "!" quirk of tokenizer_2: every literal "!" is its own id 0.
        t2.Encode("a cat!!").Ids.Should().ContainInConsecutiveOrder(0, 0, t2.EosId);
        ClipTokenizer.FromFolder(Path.Combine(folders.Refiner, "tokenizer_2")).PadId.Should().Be(0);

        var te = ReadJson(Path.Combine(folders.Base, "text_encoder", "config.json"));
        te.GetProperty("vocab_size").GetInt32().Should().Be(t1.VocabSize);
        te.GetProperty("eos_token_id").GetInt32().Should().Be(t1.EosId).And.Be(t1.VocabSize - 1);
        te.GetProperty("bos_token_id").GetInt32().Should().Be(t1.BosId);

        // The embedding table has exactly one row per token id: the last id works, one past it does not.
        using var session = new InferenceSession(Path.Combine(folders.Base, "text_encoder_2", "model.onnx"));
        using var ok = OrtTestExtensions.Tensor(new long[] { t2.BosId, t2.EosId }, 1, 2);
        using var fine = session.RunAll(("input_ids", ok));
        using var bad = OrtTestExtensions.Tensor(new long[] { t2.BosId, t2.VocabSize }, 1, 2);
        var act = () => session.RunAll(("input_ids", bad));
        act.Should().Throw<OnnxRuntimeException>();
    }

    [Fact]
    public void Tokenized_prompts_run_through_both_encoders_and_feed_the_unet()
    {
        var t1 = ClipTokenizer.FromFolder(Path.Combine(folders.Base, "tokenizer"));
        var t2 = ClipTokenizer.FromFolder(Path.Combine(folders.Base, "tokenizer_2"));
        string[] prompts = ["a red bicycle leaning on a wall", "two dogs on the beach!"];
        var ids1 = new long[2 * 77];
        var ids2 = new long[2 * 77];
        t1.EncodeBatch(prompts, ids1, [], 77, []);
        t2.EncodeBatch(prompts, ids2, [], 77, []);
        using var te1 = new InferenceSession(Path.Combine(folders.Base, "text_encoder", "model.onnx"));
        using var te2 = new InferenceSession(Path.Combine(folders.Base, "text_encoder_2", "model.onnx"));
        using var v1 = OrtTestExtensions.Tensor(ids1, 2, 77);
        using var v2 = OrtTestExtensions.Tensor(ids2, 2, 77);
        using var y1 = te1.RunNamed(["hidden_states.11"], ("input_ids", v1));
        using var y2 = te2.RunNamed(["hidden_states.31", "text_embeds"], ("input_ids", v2));
        var a = y1[0].ToArray<float>();
        var b = y2[0].ToArray<float>();
        var context = new float[2 * 77 * 64];
        for (var row = 0; row < 2 * 77; row++)
        {
            a.AsSpan(row * 24, 24).CopyTo(context.AsSpan(row * 64));
            b.AsSpan(row * 40, 40).CopyTo(context.AsSpan((row * 64) + 24));
        }
        using var unet = new InferenceSession(Path.Combine(folders.Base, "unet", "model.onnx"));
        using var sample = OrtTestExtensions.Tensor(new float[2 * 4 * 8 * 8], 2, 4, 8, 8);
        using var timestep = OrtTestExtensions.Tensor(new[] { 999f });
        using var hidden = OrtTestExtensions.Tensor(context, 2, 77, 64);
        using var pooled = OrtTestExtensions.Tensor(y2["text_embeds"].ToArray<float>(), 2, 40);
        using var timeIds = OrtTestExtensions.Tensor(new float[] { 64, 64, 0, 0, 64, 64, 64, 64, 0, 0, 64, 64 }, 2, 6);
        using var y = unet.RunAll(("sample", sample), ("timestep", timestep), ("encoder_hidden_states", hidden), ("text_embeds", pooled), ("time_ids", timeIds));
        var eps = y["out_sample"].ToArray<float>();
        eps.Should().OnlyContain(v => float.IsFinite(v));
        // Same zero latents, different prompts: the prediction differs only through the text.
        eps.AsSpan(0, 256).SequenceEqual(eps.AsSpan(256, 256)).Should().BeFalse();
    }

    [Fact]
    public void Writing_again_gives_byte_identical_files()
    {
        var again = Path.Combine(folders.Root, "again");
        TinySdxl.WriteBase(Path.Combine(again, "base"));
        TinySdxl.WriteRefiner(Path.Combine(again, "refiner"));
        foreach (var (first, second) in new[] { (folders.Base, Path.Combine(again, "base")), (folders.Refiner, Path.Combine(again, "refiner")) })
        {
            var files = FilesUnder(first);
            FilesUnder(second).Should().Equal(files);
            foreach (var file in files)
            {
                File.ReadAllBytes(Path.Combine(second, file)).Should().Equal(File.ReadAllBytes(Path.Combine(first, file)), file);
            }
        }
        // The refiner reuses the base's bigG tower, as the real refiner does.
        File.ReadAllBytes(Path.Combine(folders.Refiner, "text_encoder_2", "model.onnx"))
            .Should().Equal(File.ReadAllBytes(Path.Combine(folders.Base, "text_encoder_2", "model.onnx")));
    }
}
