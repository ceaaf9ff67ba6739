using System.Collections.Concurrent;
using System.Text.Json;
using SynthVlm.Tokenizers;

namespace SynthVlm.Diffusion.Tiny;

/// <summary>
/// Writes the tiny random SDXL base and refiner as model folders laid out exactly as
/// <c>optimum-cli export onnx</c> writes them (reference/models-sdxl-clip.md §1.1): model_index.json,
/// scheduler/scheduler_config.json, tokenizer folders, and one folder per ONNX component with its
/// model.onnx and config.json. The same config always gives byte-identical files.
/// </summary>
public static class TinySdxl
{
    /// <summary>Pipeline config file in the folder root.</summary>
    public const string ModelIndexFileName = "model_index.json";

    /// <summary>Folder of the scheduler config.</summary>
    public const string SchedulerFolder = "scheduler";

    /// <summary>File name of the scheduler config.</summary>
    public const string SchedulerConfigFileName = "scheduler_config.json";

    /// <summary>CLIP-L tokenizer (pads with <c>&lt;|endoftext|&gt;</c>); base only.</summary>
    public const string TokenizerFolder = "tokenizer";

    /// <summary>bigG tokenizer (pads with "!" = id 0).</summary>
    public const string Tokenizer2Folder = "tokenizer_2";

    /// <summary>CLIP-L text tower; base only.</summary>
    public const string TextEncoderFolder = "text_encoder";

    /// <summary>bigG text tower with projection.</summary>
    public const string TextEncoder2Folder = "text_encoder_2";

    /// <summary>The denoiser.</summary>
    public const string UnetFolder = "unet";

    /// <summary>Latents to pixels.</summary>
    public const string VaeDecoderFolder = "vae_decoder";

    /// <summary>Pixels to latent mean and log-variance.</summary>
    public const string VaeEncoderFolder = "vae_encoder";

    /// <summary>Graph file inside each component folder.</summary>
    public const string ModelFileName = "model.onnx";

    /// <summary>Component config inside each component folder.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>The pad token of <c>tokenizer_2</c>.</summary>
    public const string Tokenizer2PadToken = "!";

    private static readonly ConcurrentDictionary<int, BpeModel> Tokenizers = new();

    /// <summary>
    /// The tokenizer trained for <paramref name="config"/> (shared by both folders and both
    /// towers, as SDXL's two tokenizers share CLIP's vocabulary). Cached per merge count.
    /// </summary>
    public static BpeModel Tokenizer(TinySdxlConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        return Tokenizers.GetOrAdd(config.TokenizerMerges, merges => BpeTrainer.TrainTiny(merges));
    }

    /// <summary>
    /// Writes the base (<c>StableDiffusionXLPipeline</c>): model_index.json, scheduler, tokenizer,
    /// tokenizer_2, text_encoder, text_encoder_2, unet (6 time ids, cross-attention width
    /// <see cref="TinySdxlConfig.BaseCrossAttentionDim"/>), vae_decoder, vae_encoder.
    /// Creates <paramref name="dir"/> when needed and overwrites the files it writes.
    /// </summary>
    public static void WriteBase(string dir, TinySdxlConfig? config = null) => Write(dir, config ?? new TinySdxlConfig(), refiner: false);

    /// <summary>
    /// Writes the refiner (<c>StableDiffusionXLImg2ImgPipeline</c>): as the base, but without
    /// tokenizer and text_encoder, and with a unet taking 5 time ids and
    /// <see cref="TinySdxlConfig.RefinerCrossAttentionDim"/>-wide text states. Its text_encoder_2
    /// equals the base's, as the real refiner reuses bigG.
    /// </summary>
    public static void WriteRefiner(string dir, TinySdxlConfig? config = null) => Write(dir, config ?? new TinySdxlConfig(), refiner: true);

    /// <summary>The files every folder holds, relative to it with '/' separators (refiner: no tokenizer, no text_encoder).</summary>
    public static IReadOnlyList<string> ExpectedFiles(bool refiner)
    {
        List<string> files = [ModelIndexFileName, $"{SchedulerFolder}/{SchedulerConfigFileName}"];
        string[] tokenizerFiles = ["vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"];
        foreach (var folder in refiner ? [Tokenizer2Folder] : new[] { TokenizerFolder, Tokenizer2Folder })
        {
            files.AddRange(tokenizerFiles.Select(f => $"{folder}/{f}"));
        }
        foreach (var folder in refiner
            ? [TextEncoder2Folder, UnetFolder, VaeDecoderFolder, VaeEncoderFolder]
            : new[] { TextEncoderFolder, TextEncoder2Folder, UnetFolder, VaeDecoderFolder, VaeEncoderFolder })
        {
            files.Add($"{folder}/{ModelFileName}");
            files.Add($"{folder}/{ConfigFileName}");
        }
        return files;
    }

    private static void Write(string dir, TinySdxlConfig config, bool refiner)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dir);
        config.Validate();
        var tokenizer = Tokenizer(config);
        var vocab = tokenizer.Tokens.Count;
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, ModelIndexFileName), ModelIndexJson(refiner));
        var schedulerDir = Directory.CreateDirectory(Path.Combine(dir, SchedulerFolder)).FullName;
        File.WriteAllBytes(Path.Combine(schedulerDir, SchedulerConfigFileName), SchedulerConfigJson());

        if (!refiner)
        {
            BpeTrainer.WriteFolder(Path.Combine(dir, TokenizerFolder), tokenizer, new TokenizerFolderOptions { ModelMaxLength = config.MaxPositions });
            var te = Component(dir, TextEncoderFolder);
            TinySdxlModels.BuildTextEncoder(config, vocab).Save(Path.Combine(te, ModelFileName));
            File.WriteAllBytes(Path.Combine(te, ConfigFileName), TextEncoderConfigJson(config, vocab, withProjection: false));
        }
        BpeTrainer.WriteFolder(Path.Combine(dir, Tokenizer2Folder), tokenizer, new TokenizerFolderOptions { PadToken = Tokenizer2PadToken, ModelMaxLength = config.MaxPositions });
        var te2 = Component(dir, TextEncoder2Folder);
        TinySdxlModels.BuildTextEncoder2(config, vocab).Save(Path.Combine(te2, ModelFileName));
        File.WriteAllBytes(Path.Combine(te2, ConfigFileName), TextEncoderConfigJson(config, vocab, withProjection: true));

        var unet = Component(dir, UnetFolder);
        TinySdxlModels.BuildUnet(config, refiner).Save(Path.Combine(unet, ModelFileName));
        File.WriteAllBytes(Path.Combine(unet, ConfigFileName), UnetConfigJson(config, refiner));

        var decoder = Component(dir, VaeDecoderFolder);
        TinySdxlModels.BuildVaeDecoder(config).Save(Path.Combine(decoder, ModelFileName));
        File.WriteAllBytes(Path.Combine(decoder, ConfigFileName), VaeConfigJson(config));
        var encoder = Component(dir, VaeEncoderFolder);
        TinySdxlModels.BuildVaeEncoder(config).Save(Path.Combine(encoder, ModelFileName));
        File.WriteAllBytes(Path.Combine(encoder, ConfigFileName), VaeConfigJson(config));
    }

    private static string Component(string dir, string folder) => Directory.CreateDirectory(Path.Combine(dir, folder)).FullName;

    /// <summary>
    /// model_index.json: <c>_class_name</c>, the diffusers component table (null pairs for the
    /// refiner's missing tokenizer/text_encoder), <c>force_zeros_for_empty_prompt</c> (base true,
    /// refiner false) and <c>requires_aesthetics_score</c> (base false, refiner true).
    /// </summary>
    public static byte[] ModelIndexJson(bool refiner) => Json(w =>
    {
        w.WriteString("_class_name", refiner ? "StableDiffusionXLImg2ImgPipeline" : "StableDiffusionXLPipeline");
        w.WriteBoolean("force_zeros_for_empty_prompt", !refiner);
        w.WriteBoolean("requires_aesthetics_score", refiner);
        Pair(w, "scheduler", "diffusers", "EulerDiscreteScheduler");
        Pair(w, "text_encoder", refiner ? null : "transformers", refiner ? null : "CLIPTextModel");
        Pair(w, "text_encoder_2", "transformers", "CLIPTextModelWithProjection");
        Pair(w, "tokenizer", refiner ? null : "transformers", refiner ? null : "CLIPTokenizer");
        Pair(w, "tokenizer_2", "transformers", "CLIPTokenizer");
        Pair(w, "unet", "diffusers", "UNet2DConditionModel");
        Pair(w, "vae", "diffusers", "AutoencoderKL");
    });

    /// <summary>scheduler_config.json with SDXL base/refiner 1.0's values (reference §2.1).</summary>
    public static byte[] SchedulerConfigJson() => Json(w =>
    {
        w.WriteString("_class_name", "EulerDiscreteScheduler");
        w.WriteNumber("beta_end", 0.012);
        w.WriteString("beta_schedule", "scaled_linear");
        w.WriteNumber("beta_start", 0.00085);
        w.WriteBoolean("clip_sample", false);
        w.WriteString("interpolation_type", "linear");
        w.WriteNumber("num_train_timesteps", 1000);
        w.WriteString("prediction_type", "epsilon");
        w.WriteNumber("sample_max_value", 1.0);
        w.WriteBoolean("set_alpha_to_one", false);
        w.WriteBoolean("skip_prk_steps", true);
        w.WriteNumber("steps_offset", 1);
        w.WriteString("timestep_spacing", "leading");
        w.WriteNull("trained_betas");
        w.WriteBoolean("use_karras_sigmas", false);
    });

    private static byte[] TextEncoderConfigJson(TinySdxlConfig config, int vocab, bool withProjection) => Json(w =>
    {
        w.WriteStartArray("architectures");
        w.WriteStringValue(withProjection ? "CLIPTextModelWithProjection" : "CLIPTextModel");
        w.WriteEndArray();
        w.WriteString("model_type", "clip_text_model");
        w.WriteNumber("vocab_size", vocab);
        w.WriteNumber("hidden_size", withProjection ? config.Text2Hidden : config.TextHidden);
        w.WriteNumber("intermediate_size", withProjection ? config.Text2Mlp : config.TextMlp);
        w.WriteNumber("num_attention_heads", withProjection ? config.Text2Heads : config.TextHeads);
        w.WriteNumber("num_hidden_layers", withProjection ? config.Text2Layers : config.TextLayers);
        w.WriteNumber("max_position_embeddings", config.MaxPositions);
        w.WriteNumber("projection_dim", withProjection ? config.ProjectionDim : config.TextHidden);
        w.WriteString("hidden_act", withProjection ? "gelu" : "quick_gelu");
        w.WriteNumber("layer_norm_eps", 1e-5);
        w.WriteNumber("bos_token_id", vocab - 2);
        w.WriteNumber("eos_token_id", vocab - 1);
        w.WriteNumber("pad_token_id", withProjection ? 0 : vocab - 1);
        w.WriteString("torch_dtype", "float32");
    });

    private static byte[] UnetConfigJson(TinySdxlConfig config, bool refiner) => Json(w =>
    {
        var timeIds = refiner ? TinySdxlConfig.RefinerTimeIds : TinySdxlConfig.BaseTimeIds;
        w.WriteString("_class_name", "UNet2DConditionModel");
        w.WriteNumber("sample_size", config.SampleSize);
        w.WriteNumber("in_channels", TinySdxlConfig.LatentChannels);
        w.WriteNumber("out_channels", TinySdxlConfig.LatentChannels);
        w.WriteString("addition_embed_type", "text_time");
        w.WriteNumber("addition_time_embed_dim", config.AdditionTimeEmbedDim);
        w.WriteNumber("projection_class_embeddings_input_dim", config.ProjectionClassEmbeddingsInputDim(timeIds));
        w.WriteNumber("cross_attention_dim", refiner ? config.RefinerCrossAttentionDim : config.BaseCrossAttentionDim);
        w.WriteStartArray("block_out_channels");
        w.WriteNumberValue(config.UnetChannels);
        w.WriteEndArray();
        w.WriteNumber("attention_head_dim", config.UnetChannels / config.UnetHeads);
        w.WriteNumber("layers_per_block", 1);
        w.WriteBoolean("flip_sin_to_cos", true);
        w.WriteNumber("freq_shift", 0);
        w.WriteNumber("norm_num_groups", config.UnetNormGroups);
        w.WriteNull("time_cond_proj_dim");
    });

    private static byte[] VaeConfigJson(TinySdxlConfig config) => Json(w =>
    {
        w.WriteString("_class_name", "AutoencoderKL");
        w.WriteNumber("in_channels", 3);
        w.WriteNumber("out_channels", 3);
        w.WriteNumber("latent_channels", TinySdxlConfig.LatentChannels);
        w.WriteNumber("sample_size", config.SampleSize * TinySdxlConfig.VaeScaleFactor);
        w.WriteNumber("scaling_factor", TinySdxlConfig.ScalingFactor);
        w.WriteBoolean("force_upcast", true);
        w.WriteStartArray("block_out_channels");
        for (var i = 0; i < 4; i++)
        {
            w.WriteNumberValue(config.VaeChannels);
        }
        w.WriteEndArray();
    });

    private static void Pair(Utf8JsonWriter w, string key, string? library, string? type)
    {
        w.WriteStartArray(key);
        WriteNullable(w, library);
        WriteNullable(w, type);
        w.WriteEndArray();
    }

    private static void WriteNullable(Utf8JsonWriter w, string? value)
    {
        if (value is null)
        {
            w.WriteNullValue();
        }
        else
        {
            w.WriteStringValue(value);
        }
    }

    private static byte[] Json(Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }
}
