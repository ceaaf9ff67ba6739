using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SynthVlm.Diffusion.Schedulers;
using SynthVlm.Onnx;
using SynthVlm.Tokenizers;

using static SynthVlm.Diffusion.OnnxModelFolder;

namespace SynthVlm.Diffusion;

/// <summary>
/// An SDXL model folder as optimum exports it (model_index.json, text_encoder/, text_encoder_2/,
/// unet/, vae_decoder/, scheduler/, tokenizer/, tokenizer_2/), base or refiner, loaded on ONNX
/// Runtime with every input and output the pipeline relies on checked at load. Components are
/// found by folder name, as optimum writes them. Thread-safe for concurrent generation.
/// </summary>
public sealed class SdxlModel : IDisposable
{
    private SdxlModel(string folder)
    {
        Folder = folder;
    }

    /// <summary>The model folder.</summary>
    public string Folder { get; }

    /// <summary>Whether this is a refiner (no text_encoder; 5 time ids with aesthetic scores).</summary>
    public bool IsRefiner { get; private set; }

    /// <summary>model_index.json's force_zeros_for_empty_prompt: no negative prompt means zero embeddings.</summary>
    public bool ForceZerosForEmptyPrompt { get; private set; }

    /// <summary>The first text encoder (CLIP-L); null for a refiner.</summary>
    internal InferenceSession? TextEncoder { get; private set; }

    /// <summary>The second text encoder (OpenCLIP bigG with projection).</summary>
    internal InferenceSession TextEncoder2 { get; private set; } = null!;

    internal InferenceSession Unet { get; private set; } = null!;

    internal InferenceSession VaeDecoder { get; private set; } = null!;

    internal ClipTokenizer? Tokenizer { get; private set; }

    internal ClipTokenizer Tokenizer2 { get; private set; } = null!;

    internal string PenultimateHidden1 { get; private set; } = "";

    internal string PenultimateHidden2 { get; private set; } = "";

    internal int TimeIdCount { get; private set; }

    internal int LatentChannels { get; private set; }

    /// <summary>Widths the UNet takes (for tests that build a replacement UNet).</summary>
    internal (long ContextWidth, long PooledWidth) UnetInputs =>
        (Unet.InputMetadata["encoder_hidden_states"].Dimensions[2], Unet.InputMetadata["text_embeds"].Dimensions[1]);

    /// <summary>The execution provider the UNet runs on (CPU after a configured CUDA fallback).</summary>
    public ExecutionProvider Provider { get; private set; } = ExecutionProvider.Cpu;

    /// <summary>The VAE's latent scaling factor (0.13025 for SDXL).</summary>
    public double VaeScalingFactor { get; private set; }

    /// <summary>The scheduler settings of scheduler/scheduler_config.json.</summary>
    public SchedulerConfig SchedulerConfig { get; private set; } = null!;

    /// <summary>Loads and checks a base or refiner folder.</summary>
    /// <exception cref="DiffusionException">A part is missing or does not match the SDXL contract (the message names the file and tensor).</exception>
    /// <exception cref="OnnxProviderUnavailableException">CUDA was asked for, cannot be used, and <see cref="ProviderFallback.Error"/> is set.</exception>
    public static SdxlModel Load(string folder, OnnxSessionSettings? sessionSettings = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        folder = Path.GetFullPath(folder);
        if (!Directory.Exists(folder))
        {
            throw new DiffusionException($"{folder}: model folder not found (create the tiny set with `synthvlm models init-tiny` or point at an optimum SDXL export)");
        }
        var model = new SdxlModel(folder);
        try
        {
            model.LoadParts(sessionSettings);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private void LoadParts(OnnxSessionSettings? options)
    {
        var index = Path.Combine(Folder, "model_index.json");
        if (!File.Exists(index))
        {
            throw new DiffusionException($"{index}: file not found (an SDXL export starts with model_index.json)");
        }
        using (var doc = ParseJson(index))
        {
            ForceZerosForEmptyPrompt = doc.RootElement.TryGetProperty("force_zeros_for_empty_prompt", out var f) && f.ValueKind == JsonValueKind.True;
        }
        IsRefiner = !Directory.Exists(Path.Combine(Folder, "text_encoder"));
        try
        {
            SchedulerConfig = SchedulerConfig.FromFile(Require(Path.Combine("scheduler", "scheduler_config.json")));
        }
        catch (SchedulerConfigException e)
        {
            throw new DiffusionException(e.Message, e);
        }

        if (!IsRefiner)
        {
            Tokenizer = LoadTokenizer("tokenizer");
            TextEncoder = LoadSession("text_encoder", options, out _);
            PenultimateHidden1 = CheckTextEncoder(TextEncoder, "text_encoder", projected: false);
        }
        Tokenizer2 = LoadTokenizer("tokenizer_2");
        TextEncoder2 = LoadSession("text_encoder_2", options, out _);
        PenultimateHidden2 = CheckTextEncoder(TextEncoder2, "text_encoder_2", projected: true);
        Unet = LoadSession("unet", options, out var provider);
        Provider = provider;
        VaeDecoder = LoadSession("vae_decoder", options, out _);
        CheckUnet();
        CheckVae();
        UpcastVaeIfNeeded(options);
    }

    private void CheckUnet()
    {
        var path = PathOf("unet");
        var inputs = Inputs(Unet);
        var sample = Expect(inputs, "sample", path, 4);
        Expect(inputs, "encoder_hidden_states", path, 3);
        Expect(inputs, "text_embeds", path, 2);
        var timeIds = Expect(inputs, "time_ids", path, 2);
        if (!inputs.ContainsKey("timestep"))
        {
            throw new DiffusionException($"{path}: input 'timestep' is missing; {Describe(Unet)}");
        }
        if (!Outputs(Unet).ContainsKey("out_sample"))
        {
            throw new DiffusionException($"{path}: output 'out_sample' is missing; {Describe(Unet)}");
        }
        var unknown = inputs.Keys.Except(["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"]).ToArray();
        if (unknown.Length > 0)
        {
            throw new DiffusionException($"{path}: unexpected input(s) {string.Join(", ", unknown)} (timestep_cond models are not SDXL)");
        }
        TimeIdCount = timeIds.Dimensions[1] > 0 ? (int)timeIds.Dimensions[1] : IsRefiner ? 5 : 6;
        if (TimeIdCount != (IsRefiner ? 5 : 6))
        {
            throw new DiffusionException($"{path}: input 'time_ids' has {TimeIdCount} columns; the {(IsRefiner ? "refiner" : "base")} takes {(IsRefiner ? 5 : 6)}");
        }
        LatentChannels = sample.Dimensions[1] > 0 ? (int)sample.Dimensions[1] : 4;
    }

    private void CheckVae()
    {
        var path = PathOf("vae_decoder");
        Expect(Inputs(VaeDecoder), "latent_sample", path, 4);
        if (!Outputs(VaeDecoder).ContainsKey("sample"))
        {
            throw new DiffusionException($"{path}: output 'sample' is missing; {Describe(VaeDecoder)}");
        }
        var config = Path.Combine(Folder, "vae_decoder", "config.json");
        VaeScalingFactor = 0.13025;
        if (File.Exists(config))
        {
            using var doc = ParseJson(config);
            if (doc.RootElement.TryGetProperty("scaling_factor", out var s) && s.ValueKind == JsonValueKind.Number)
            {
                VaeScalingFactor = s.GetDouble();
            }
        }
        if (!(VaeScalingFactor > 0))
        {
            throw new DiffusionException($"{config}: scaling_factor must be positive");
        }
    }

    private void UpcastVaeIfNeeded(OnnxSessionSettings? options)
    {
        // diffusers runs an fp16 VAE in fp32 when its config says force_upcast (SDXL's does: its
        // activations overflow half precision). Here that means loading a float32 rewrite of the graph.
        if (VaeDecoder.InputMetadata["latent_sample"].ElementDataType != TensorElementType.Float16)
        {
            return;
        }
        var config = Path.Combine(Folder, "vae_decoder", "config.json");
        var forceUpcast = true;
        if (File.Exists(config))
        {
            using var doc = ParseJson(config);
            forceUpcast = !doc.RootElement.TryGetProperty("force_upcast", out var f) || f.ValueKind != JsonValueKind.False;
        }
        if (!forceUpcast)
        {
            return;
        }
        var path = PathOf("vae_decoder");
        byte[] upcast;
        try
        {
            upcast = Onnx.Builder.Float16Upcast.Convert(File.ReadAllBytes(path), Path.GetDirectoryName(path));
        }
        catch (InvalidDataException e)
        {
            throw new DiffusionException($"{path}: cannot upcast the float16 VAE to float32: {e.Message}", e);
        }
        var upcastSettings = (options ?? new OnnxSessionSettings()) with { ExternalDataFolder = Path.GetDirectoryName(path) };
        var session = OnnxSessions.FromBytes(upcast, upcastSettings, $"{path} (float32 rewrite)");
        VaeDecoder.Dispose();
        VaeDecoder = session;
        VaeUpcast = true;
    }

    /// <summary>Whether the float16 VAE decoder runs as its float32 rewrite (config force_upcast).</summary>
    public bool VaeUpcast { get; private set; }

    private static string CheckTextEncoder(InferenceSession session, string part, bool projected)
    {
        var path = Path.Combine(part, "model.onnx");
        var inputs = Inputs(session);
        if (!inputs.TryGetValue("input_ids", out var ids) || ids.Dimensions.Length != 2 || ids.ElementDataType is not (TensorElementType.Int64 or TensorElementType.Int32))
        {
            throw new DiffusionException($"{path}: expected input 'input_ids' int64 [batch_size, sequence_length]; {Describe(session)}");
        }
        var outputs = Outputs(session);
        var hidden = outputs.Keys.Where(k => k.StartsWith("hidden_states.", StringComparison.Ordinal))
            .Select(k => int.TryParse(k.AsSpan("hidden_states.".Length), out var n) ? n : -1).Where(n => n >= 0).ToArray();
        if (hidden.Length < 2)
        {
            throw new DiffusionException($"{path}: the outputs hidden_states.0 … hidden_states.N are missing (export with output_hidden_states, as optimum does for SDXL); {Describe(session)}");
        }
        if (projected && !outputs.ContainsKey("text_embeds"))
        {
            throw new DiffusionException($"{path}: output 'text_embeds' (the projected pooled embedding) is missing; {Describe(session)}");
        }
        // hidden_states[-2]: the penultimate layer's output, as diffusers' encode_prompt takes it.
        return $"hidden_states.{hidden.Max() - 1}";
    }

    private static IReadOnlyDictionary<string, NodeMetadata> Inputs(InferenceSession s) => s.InputMetadata;

    private static IReadOnlyDictionary<string, NodeMetadata> Outputs(InferenceSession s) => s.OutputMetadata;

    private string PathOf(string part) => OnnxModelFolder.PathOf(Folder, part);

    private string Require(string relative) => OnnxModelFolder.Require(Folder, relative);

    private InferenceSession LoadSession(string part, OnnxSessionSettings? options, out ExecutionProvider provider) => OnnxModelFolder.LoadSession(Folder, part, options, out provider);

    private ClipTokenizer LoadTokenizer(string part) => OnnxModelFolder.LoadClipTokenizer(Folder, part);

    /// <inheritdoc />
    public void Dispose()
    {
        TextEncoder?.Dispose();
        TextEncoder2?.Dispose();
        Unet?.Dispose();
        VaeDecoder?.Dispose();
    }
}
