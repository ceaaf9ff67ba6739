using System.Buffers.Binary;
using System.Collections;
using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Model;

/// <summary>How to load a model: where its parameters live and in which dtype.</summary>
/// <param name="Device">Device of the parameters (CPU when null).</param>
/// <param name="DType">Parameter dtype; checkpoint tensors of another floating dtype are converted.</param>
/// <param name="VisionTowerDirectory">LLaVA layout: the CLIP folder, overriding <c>mm_vision_tower</c>.</param>
public sealed record LlavaLoadOptions(Device? Device = null, ScalarType DType = ScalarType.Float32, string? VisionTowerDirectory = null)
{
    /// <summary>The options a service's settings name: dtype fp32 (default) or bf16, device cpu (default) or cuda.</summary>
    /// <exception cref="ArgumentException">A value is unknown, or cuda is asked for and unusable; ParamName is "DType" or "Device".</exception>
    public static LlavaLoadOptions FromSettings(string? dtype, string? device)
    {
        var type = dtype switch
        {
            null or "" or "fp32" => ScalarType.Float32,
            "bf16" => ScalarType.BFloat16,
            var other => throw new ArgumentException($"'{other}' is not fp32 or bf16.", "DType"),
        };
        var where = device switch
        {
            null or "" or "cpu" => null,
            "cuda" when cuda.is_available() => CUDA,
            "cuda" => throw new ArgumentException("cuda was asked for but TorchSharp sees no CUDA device (build with -p:SynthVlmTorchBackend=Cuda on a GPU node).", "Device"),
            var other => throw new ArgumentException($"'{other}' is not cpu or cuda.", "Device"),
        };
        return new LlavaLoadOptions(where, type);
    }
}

/// <summary>
/// Loads a LLaVA-1.5 model from a Hugging Face folder of either layout (<see cref="LlavaLayout"/>),
/// sharded or not, fp32/fp16/bf16. The graph is built with uninitialised parameters and every one
/// of them must come from the checkpoint: missing, mis-shaped, unexpected or duplicated tensors
/// are all reported together, by name, before any weight is read.
/// </summary>
public static class LlavaModelLoader
{
    /// <summary>Opens <paramref name="directory"/> and loads the model it holds.</summary>
    /// <exception cref="VlmModelException">The folder or its weights do not match the configuration; the message lists every problem.</exception>
    public static LlavaModel Load(string directory, LlavaLoadOptions? options = null)
    {
        options ??= new LlavaLoadOptions();
        return Load(LlavaModelFolder.Open(directory, options.VisionTowerDirectory), options);
    }

    /// <summary>Loads the model of an opened folder.</summary>
    /// <exception cref="VlmModelException">The weights do not match the configuration; the message lists every problem.</exception>
    public static LlavaModel Load(LlavaModelFolder folder, LlavaLoadOptions? options = null) => Load(folder, options, null);

    /// <summary>
    /// Loads the model of an opened folder; parameters for which <paramref name="mayBeMissing"/> says
    /// true may be absent from the checkpoint (they stay uninitialised: the caller fills them, e.g. a
    /// new projector before stage 1).
    /// </summary>
    /// <exception cref="VlmModelException">The weights do not match the configuration; the message lists every problem.</exception>
    public static LlavaModel Load(LlavaModelFolder folder, LlavaLoadOptions? options, Func<string, bool>? mayBeMissing)
    {
        ArgumentNullException.ThrowIfNull(folder);
        options ??= new LlavaLoadOptions();
        var model = new LlavaModel(folder.Config, options.Device, options.DType);
        try
        {
            var parameters = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);
            var sources = new List<(string File, Func<string, string?> Map)>();
            foreach (var file in folder.WeightFiles)
            {
                sources.Add((file, key => CheckpointKeys.ToModelKey(key, folder.Layout)));
            }
            foreach (var file in folder.VisionTowerWeightFiles)
            {
                sources.Add((file, CheckpointKeys.FromVisionTowerKey));
            }
            LoadInto(parameters, sources, folder.Directory, mayBeMissing);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Copies tensors from <paramref name="sources"/> into <paramref name="parameters"/> (keys mapped by
    /// each source's function; null = not the model's). Validates names and shapes of every file first.
    /// </summary>
    internal static void LoadInto(IReadOnlyDictionary<string, Tensor> parameters, IReadOnlyList<(string File, Func<string, string?> Map)> sources, string what, Func<string, bool>? mayBeMissing = null)
    {
        var problems = new List<string>();
        var plan = new List<(string File, Dictionary<string, string> Keys)>();
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (file, map) in sources)
        {
            var header = TensorHeaders.Read(file);
            var keys = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (key, shape) in header)
            {
                var target = map(key);
                if (target is null)
                {
                    continue;
                }
                if (!parameters.TryGetValue(target, out var parameter))
                {
                    problems.Add($"unexpected tensor {key} in {Path.GetFileName(file)} (no parameter {target} in this configuration)");
                    continue;
                }
                if (found.TryGetValue(target, out var earlier))
                {
                    problems.Add($"{target} appears twice ({Path.GetFileName(earlier)} and {Path.GetFileName(file)})");
                    continue;
                }
                if (shape is not null && !shape.SequenceEqual(parameter.shape))
                {
                    problems.Add($"{key} in {Path.GetFileName(file)} has shape [{string.Join(", ", shape)}], the configuration needs [{string.Join(", ", parameter.shape)}]");
                    continue;
                }
                found[target] = file;
                keys[key] = target;
            }
            plan.Add((file, keys));
        }
        foreach (var name in parameters.Keys.Where(k => !found.ContainsKey(k) && mayBeMissing?.Invoke(k) != true).Order(StringComparer.Ordinal))
        {
            problems.Add($"missing tensor {name}");
        }
        if (problems.Count > 0)
        {
            const int Shown = 20;
            var more = problems.Count > Shown ? $"; and {problems.Count - Shown} more" : "";
            throw new VlmModelException($"{what}: the checkpoint does not match the model: {string.Join("; ", problems.Take(Shown))}{more}.");
        }

        using var noGrad = no_grad();
        foreach (var (file, keys) in plan)
        {
            if (keys.Count == 0)
            {
                continue;
            }
            foreach (var (key, tensor) in TensorFiles.Load(file, [.. keys.Keys]))
            {
                using (tensor)
                {
                    var parameter = parameters[keys[key]];
                    if (!tensor.shape.SequenceEqual(parameter.shape))
                    {
                        throw new VlmModelException($"{what}: {key} in {Path.GetFileName(file)} has shape [{string.Join(", ", tensor.shape)}], the configuration needs [{string.Join(", ", parameter.shape)}].");
                    }
                    parameter.copy_(tensor);
                }
            }
        }
    }
}

/// <summary>The mapping between checkpoint keys of each layout and the model's (llava-hf classic) parameter names.</summary>
internal static class CheckpointKeys
{
    /// <summary>The model parameter a checkpoint key fills, or null when the key is not the model's.</summary>
    public static string? ToModelKey(string key, LlavaLayout layout)
    {
        if (IsIgnoredBuffer(key))
        {
            return null;
        }
        if (layout == LlavaLayout.HuggingFace)
        {
            return key switch
            {
                _ when key.StartsWith("model.language_model.", StringComparison.Ordinal) => "language_model.model." + key["model.language_model.".Length..],
                _ when key.StartsWith("model.vision_tower.", StringComparison.Ordinal) => key["model.".Length..],
                _ when key.StartsWith("model.multi_modal_projector.", StringComparison.Ordinal) => key["model.".Length..],
                _ when key.StartsWith("lm_head.", StringComparison.Ordinal) => "language_model." + key,
                _ => key,
            };
        }
        return key switch
        {
            _ when key.StartsWith("model.mm_projector.0.", StringComparison.Ordinal) => "multi_modal_projector.linear_1." + key["model.mm_projector.0.".Length..],
            _ when key.StartsWith("model.mm_projector.2.", StringComparison.Ordinal) => "multi_modal_projector.linear_2." + key["model.mm_projector.2.".Length..],
            // A checkpoint trained with an unfrozen tower carries it under the model.
            _ when key.StartsWith("model.vision_tower.vision_tower.", StringComparison.Ordinal) => "vision_tower." + key["model.vision_tower.vision_tower.".Length..],
            _ when key.StartsWith("model.", StringComparison.Ordinal) => "language_model." + key,
            _ when key.StartsWith("lm_head.", StringComparison.Ordinal) => "language_model." + key,
            _ => key,
        };
    }

    /// <summary>The model parameter a key of a CLIP folder fills (its vision half), or null (text half, projections).</summary>
    public static string? FromVisionTowerKey(string key) =>
        IsIgnoredBuffer(key) || !key.StartsWith("vision_model.", StringComparison.Ordinal) ? null : "vision_tower." + key;

    /// <summary>Buffers older checkpoints carry that are recomputed, never loaded.</summary>
    private static bool IsIgnoredBuffer(string key) =>
        key.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) || key.EndsWith(".position_ids", StringComparison.Ordinal);
}

/// <summary>Reads tensor names and shapes (without data) and tensors of safetensors and PyTorch .bin files.</summary>
internal static class TensorFiles
{
    public static IEnumerable<KeyValuePair<string, Tensor>> Load(string file, List<string> keys)
    {
        if (file.EndsWith(".safetensors", StringComparison.Ordinal))
        {
            return Safetensors.LoadStateDict(file, keys);
        }
        var all = PyTorchUnpickler.UnpickleStateDict(file);
        var wanted = keys.ToHashSet(StringComparer.Ordinal);
        var result = new List<KeyValuePair<string, Tensor>>();
        foreach (DictionaryEntry entry in all)
        {
            if (entry.Value is Tensor t)
            {
                if (wanted.Contains((string)entry.Key))
                {
                    result.Add(new((string)entry.Key, t));
                }
                else
                {
                    t.Dispose();
                }
            }
        }
        return result;
    }
}

/// <summary>Tensor names and shapes of a weight file, read from its header only (safetensors) or its pickle (.bin).</summary>
internal static class TensorHeaders
{
    private static readonly HashSet<string> FloatTypes = ["F32", "F16", "BF16", "F64"];

    /// <summary>Name → shape (null when the format does not tell without reading data).</summary>
    public static IReadOnlyList<(string Key, long[]? Shape)> Read(string file)
    {
        if (!File.Exists(file))
        {
            throw new VlmModelException($"{file}: weight file not found.");
        }
        if (!file.EndsWith(".safetensors", StringComparison.Ordinal))
        {
            using var stream = File.OpenRead(file);
            var dict = PyTorchUnpickler.UnpickleStateDict(stream, skipTensorRead: true);
            var keys = new List<(string, long[]?)>();
            foreach (DictionaryEntry entry in dict)
            {
                keys.Add(((string)entry.Key, null));
            }
            return keys;
        }
        using var reader = File.OpenRead(file);
        Span<byte> lengthBytes = stackalloc byte[8];
        if (reader.Read(lengthBytes) != 8)
        {
            throw new VlmModelException($"{file}: too short for a safetensors file.");
        }
        var length = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (length == 0 || length > 100_000_000 || (long)length > reader.Length - 8)
        {
            throw new VlmModelException($"{file}: safetensors header length {length} is not plausible for a file of {reader.Length} bytes.");
        }
        var headerBytes = new byte[length];
        reader.ReadExactly(headerBytes);
        JsonObject header;
        try
        {
            header = JsonNode.Parse(headerBytes) as JsonObject ?? throw new VlmModelException($"{file}: safetensors header is not a JSON object.");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new VlmModelException($"{file}: safetensors header is not valid JSON ({e.Message}).", e);
        }
        var result = new List<(string, long[]?)>();
        foreach (var (key, value) in header)
        {
            if (key == "__metadata__")
            {
                continue;
            }
            var dtype = value?["dtype"]?.GetValue<string>();
            var shape = (value?["shape"] as JsonArray)?.Select(d => d!.GetValue<long>()).ToArray();
            if (dtype is null || shape is null)
            {
                throw new VlmModelException($"{file}: tensor {key} has no dtype or shape in the header.");
            }
            if (!FloatTypes.Contains(dtype))
            {
                throw new VlmModelException($"{file}: tensor {key} is {dtype}; the model loads floating tensors (F32, F16, BF16).");
            }
            result.Add((key, shape));
        }
        return result;
    }
}
