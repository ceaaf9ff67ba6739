using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SynthVlm.Diffusion.Schedulers;
using SynthVlm.Onnx;
using SynthVlm.Tokenizers;

using static SynthVlm.Diffusion.OnnxModelFolder;

namespace SynthVlm.Diffusion;

/// <summary>
/// A Stable Diffusion 3 model folder as optimum exports it: model_index.json, text_encoder/ and text_encoder_2/
/// (CLIP-L and CLIP-G with projection: <c>text_embeds</c> and <c>hidden_states.0 … N</c>), optionally
/// text_encoder_3/ (T5: <c>input_ids</c> → <c>last_hidden_state</c>), transformer/ (the MMDiT:
/// <c>hidden_states</c>, <c>timestep</c> [batch], <c>encoder_hidden_states</c>, <c>pooled_projections</c> →
/// <c>out_hidden_states</c>), vae_decoder/ (16 latent channels; config.json scaling_factor and shift_factor),
/// scheduler/, tokenizer/, tokenizer_2/, tokenizer_3/. Every input and output the pipeline relies on is
/// checked at load. Thread-safe for concurrent generation.
/// </summary>
public sealed class Sd3Model : IDisposable
{
    private Sd3Model(string folder)
    {
        Folder = folder;
    }

    /// <summary>The model folder.</summary>
    public string Folder { get; }

    /// <summary>Whether text_encoder_3 (T5) was loaded; without it the T5 rows are zeros, as diffusers does when text_encoder_3 is None.</summary>
    public bool HasT5 => TextEncoder3 is not null;

    /// <summary>The MMDiT's latent channels (16 for SD3).</summary>
    public int LatentChannels { get; private set; }

    /// <summary>The width of the joint text sequence (T5's hidden size, 4096 for SD3): CLIP rows are zero-padded to it.</summary>
    public int JointWidth { get; private set; }

    /// <summary>The width of <c>pooled_projections</c> (CLIP-L + CLIP-G pooled, 2048 for SD3).</summary>
    public int PooledWidth { get; private set; }

    /// <summary>The VAE's scaling_factor (1.5305 for SD3).</summary>
    public double VaeScalingFactor { get; private set; }

    /// <summary>The VAE's shift_factor (0.0609 for SD3): decoded latents are x / scaling + shift.</summary>
    public double VaeShiftFactor { get; private set; }

    /// <summary>The scheduler settings of scheduler/scheduler_config.json.</summary>
    public SchedulerConfig SchedulerConfig { get; private set; } = null!;

    /// <summary>The execution provider the transformer runs on.</summary>
    public ExecutionProvider Provider { get; private set; } = ExecutionProvider.Cpu;

    internal InferenceSession? TextEncoder { get; private set; }

    internal InferenceSession? TextEncoder2 { get; private set; }

    internal InferenceSession? TextEncoder3 { get; private set; }

    internal InferenceSession Transformer { get; private set; } = null!;

    internal InferenceSession VaeDecoder { get; private set; } = null!;

    internal ClipTokenizer? Tokenizer { get; private set; }

    internal ClipTokenizer? Tokenizer2 { get; private set; }

    internal T5PromptTokenizer? Tokenizer3 { get; private set; }

    internal string PenultimateHidden1 { get; private set; } = "";

    internal string PenultimateHidden2 { get; private set; } = "";

    /// <summary>Whether <paramref name="folder"/>'s model_index.json names a Stable Diffusion 3 pipeline (or, without a class name, the folder has transformer/).</summary>
    public static bool IsSd3Folder(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        var index = Path.Combine(folder, "model_index.json");
        if (File.Exists(index))
        {
            using var doc = ParseJson(index);
            if (doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("_class_name", out var name) && name.ValueKind == JsonValueKind.String)
            {
                return name.GetString()!.StartsWith("StableDiffusion3", StringComparison.Ordinal);
            }
        }

        return Directory.Exists(Path.Combine(folder, "transformer"));
    }

    /// <summary>Loads and checks an SD3 folder.</summary>
    /// <param name="folder">The optimum export.</param>
    /// <param name="sessionSettings">ONNX Runtime settings (provider, threads).</param>
    /// <param name="skipT5">Do not load text_encoder_3 even when present (saves its memory; the T5 rows become zeros).</param>
    /// <param name="textEncoders">Load the CLIP and T5 encoders; false loads only the transformer and the VAE (for <see cref="Sd3Pipeline.GenerateFromEmbeddings"/>).</param>
    /// <exception cref="DiffusionException">A part is missing or does not match the SD3 contract (the message names the file and tensor).</exception>
    public static Sd3Model Load(string folder, OnnxSessionSettings? sessionSettings = null, bool skipT5 = false, bool textEncoders = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        folder = Path.GetFullPath(folder);
        if (!Directory.Exists(folder))
        {
            throw new DiffusionException($"{folder}: model folder not found (create the tiny SD3 with TinySd3 or point at an optimum SD3 export)");
        }

        var model = new Sd3Model(folder);
        try
        {
            model.LoadParts(sessionSettings, skipT5, textEncoders);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private void LoadParts(OnnxSessionSettings? options, bool skipT5, bool textEncoders)
    {
        var index = Require("model_index.json");
        using (var doc = ParseJson(index))
        {
            if (doc.RootElement.TryGetProperty("_class_name", out var name) && name.ValueKind == JsonValueKind.String
                && !name.GetString()!.StartsWith("StableDiffusion3", StringComparison.Ordinal))
            {
                throw new DiffusionException($"{index}: _class_name is '{name.GetString()}'; expected a StableDiffusion3 pipeline");
            }
        }

        try
        {
            SchedulerConfig = SchedulerConfig.FromFile(Require(Path.Combine("scheduler", "scheduler_config.json")));
        }
        catch (SchedulerConfigException e)
        {
            throw new DiffusionException(e.Message, e);
        }

        Transformer = LoadSession("transformer", options, out var provider);
        Provider = provider;
        CheckTransformer();
        VaeDecoder = LoadSession("vae_decoder", options, out _);
        CheckVae();
        if (!textEncoders)
        {
            return;
        }

        Tokenizer = LoadClipTokenizer("tokenizer");
        Tokenizer2 = LoadClipTokenizer("tokenizer_2");
        TextEncoder = LoadSession("text_encoder", options, out _);
        PenultimateHidden1 = CheckClip(TextEncoder, "text_encoder");
        TextEncoder2 = LoadSession("text_encoder_2", options, out _);
        PenultimateHidden2 = CheckClip(TextEncoder2, "text_encoder_2");
        var clipPooled = TextEncoder.OutputMetadata["text_embeds"].Dimensions[^1] + TextEncoder2.OutputMetadata["text_embeds"].Dimensions[^1];
        if (PooledWidth > 0 && clipPooled > 0 && clipPooled != PooledWidth)
        {
            throw new DiffusionException($"{PathOf("transformer")}: pooled_projections has width {PooledWidth}; the two CLIP text_embeds give {clipPooled}");
        }

        if (!skipT5 && Directory.Exists(Path.Combine(Folder, "text_encoder_3")))
        {
            Tokenizer3 = T5PromptTokenizer.FromFolder(Path.Combine(Folder, "tokenizer_3"));
            TextEncoder3 = LoadSession("text_encoder_3", options, out _);
            var path = PathOf("text_encoder_3");
            if (!TextEncoder3.InputMetadata.TryGetValue("input_ids", out var ids) || ids.Dimensions.Length != 2)
            {
                throw new DiffusionException($"{path}: expected input 'input_ids' int64 [batch_size, sequence_length]; {Describe(TextEncoder3)}");
            }

            if (!TextEncoder3.OutputMetadata.TryGetValue("last_hidden_state", out var hidden) || hidden.Dimensions.Length != 3)
            {
                throw new DiffusionException($"{path}: expected output 'last_hidden_state' [batch_size, sequence_length, width]; {Describe(TextEncoder3)}");
            }

            if (hidden.Dimensions[2] > 0 && hidden.Dimensions[2] != JointWidth)
            {
                throw new DiffusionException($"{path}: last_hidden_state has width {hidden.Dimensions[2]}; the transformer's encoder_hidden_states take {JointWidth}");
            }
        }
    }

    private void CheckTransformer()
    {
        var path = PathOf("transformer");
        var inputs = Transformer.InputMetadata;
        var sample = Expect(inputs, "hidden_states", path, 4);
        var context = Expect(inputs, "encoder_hidden_states", path, 3);
        var pooled = Expect(inputs, "pooled_projections", path, 2);
        Expect(inputs, "timestep", path, 1);
        if (!Transformer.OutputMetadata.ContainsKey("out_hidden_states"))
        {
            throw new DiffusionException($"{path}: output 'out_hidden_states' is missing; {Describe(Transformer)}");
        }

        var unknown = inputs.Keys.Except(["hidden_states", "timestep", "encoder_hidden_states", "pooled_projections"]).ToArray();
        if (unknown.Length > 0)
        {
            throw new DiffusionException($"{path}: unexpected input(s) {string.Join(", ", unknown)} (an SD3 MMDiT takes hidden_states, timestep, encoder_hidden_states, pooled_projections)");
        }

        // Static widths come from the graph; dynamic ones from transformer/config.json (diffusers' names).
        using var config = File.Exists(Path.Combine(Folder, "transformer", "config.json")) ? ParseJson(Path.Combine(Folder, "transformer", "config.json")) : null;
        LatentChannels = Width(sample.Dimensions[1], config, "in_channels", 16);
        JointWidth = Width(context.Dimensions[2], config, "joint_attention_dim", 4096);
        PooledWidth = Width(pooled.Dimensions[1], config, "pooled_projection_dim", 2048);
    }

    private static int Width(long fromGraph, JsonDocument? config, string key, int fallback) =>
        fromGraph > 0 ? (int)fromGraph
        : config is not null && config.RootElement.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32()
        : fallback;

    private void CheckVae()
    {
        var path = PathOf("vae_decoder");
        var latent = Expect(VaeDecoder.InputMetadata, "latent_sample", path, 4);
        if (!VaeDecoder.OutputMetadata.ContainsKey("sample"))
        {
            throw new DiffusionException($"{path}: output 'sample' is missing; {Describe(VaeDecoder)}");
        }

        if (latent.Dimensions[1] > 0 && latent.Dimensions[1] != LatentChannels)
        {
            throw new DiffusionException($"{path}: latent_sample has {latent.Dimensions[1]} channels; the transformer makes {LatentChannels}");
        }

        var config = Path.Combine(Folder, "vae_decoder", "config.json");
        VaeScalingFactor = 1.5305;
        VaeShiftFactor = 0.0609;
        if (File.Exists(config))
        {
            using var doc = ParseJson(config);
            if (doc.RootElement.TryGetProperty("scaling_factor", out var s) && s.ValueKind == JsonValueKind.Number)
            {
                VaeScalingFactor = s.GetDouble();
            }

            if (doc.RootElement.TryGetProperty("shift_factor", out var f) && f.ValueKind == JsonValueKind.Number)
            {
                VaeShiftFactor = f.GetDouble();
            }
        }

        if (!(VaeScalingFactor > 0) || !double.IsFinite(VaeShiftFactor))
        {
            throw new DiffusionException($"{config}: scaling_factor must be positive and shift_factor finite; found {VaeScalingFactor} and {VaeShiftFactor}");
        }
    }

    private static string CheckClip(InferenceSession session, string part)
    {
        var path = Path.Combine(part, "model.onnx");
        if (!session.InputMetadata.TryGetValue("input_ids", out var ids) || ids.Dimensions.Length != 2 || ids.ElementDataType is not (TensorElementType.Int64 or TensorElementType.Int32))
        {
            throw new DiffusionException($"{path}: expected input 'input_ids' int64 [batch_size, sequence_length]; {Describe(session)}");
        }

        var outputs = session.OutputMetadata;
        var hidden = outputs.Keys.Where(k => k.StartsWith("hidden_states.", StringComparison.Ordinal))
            .Select(k => int.TryParse(k.AsSpan("hidden_states.".Length), out var n) ? n : -1).Where(n => n >= 0).ToArray();
        if (hidden.Length < 2)
        {
            throw new DiffusionException($"{path}: the outputs hidden_states.0 … hidden_states.N are missing (optimum exports them for SD3); {Describe(session)}");
        }

        if (!outputs.ContainsKey("text_embeds"))
        {
            throw new DiffusionException($"{path}: output 'text_embeds' is missing (SD3's CLIP encoders are CLIPTextModelWithProjection); {Describe(session)}");
        }

        return $"hidden_states.{hidden.Max() - 1}";
    }

    internal string PathOf(string part) => OnnxModelFolder.PathOf(Folder, part);

    private string Require(string relative) => OnnxModelFolder.Require(Folder, relative);

    private InferenceSession LoadSession(string part, OnnxSessionSettings? options, out ExecutionProvider provider) => OnnxModelFolder.LoadSession(Folder, part, options, out provider);

    private ClipTokenizer LoadClipTokenizer(string part) => OnnxModelFolder.LoadClipTokenizer(Folder, part);

    /// <inheritdoc />
    public void Dispose()
    {
        TextEncoder?.Dispose();
        TextEncoder2?.Dispose();
        TextEncoder3?.Dispose();
        Transformer?.Dispose();
        VaeDecoder?.Dispose();
    }
}
