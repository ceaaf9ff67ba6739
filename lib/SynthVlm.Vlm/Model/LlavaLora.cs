using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Model;

/// <summary>
/// A LoRA adapter on one linear layer (PEFT's <c>lora.Linear</c>): the layer's output gains
/// <c>scaling · B(A(dropout(x)))</c> with A [r, in] initialised as PEFT does (kaiming-uniform with
/// a = √5, i.e. uniform in ±1/√in), B [out, r] zeros (so a fresh adapter changes nothing) and
/// scaling = alpha / r. Dropout applies only while <see cref="Training"/> is set.
/// </summary>
public sealed class LoraAdapter : ILinearAdapter, IDisposable
{
    internal LoraAdapter(long inFeatures, long outFeatures, int rank, double alpha, double dropout, Device device, ScalarType dtype, Generator? generator)
    {
        Rank = rank;
        Alpha = alpha;
        DropoutProbability = dropout;
        var bound = 1.0 / Math.Sqrt(inFeatures);
        using (var a = rand([rank, inFeatures], ScalarType.Float32, generator: generator))
        {
            A = new Parameter(a.Times(2 * bound).MinusInPlace(bound).to(dtype, device), requires_grad: true);
        }
        B = new Parameter(zeros([outFeatures, rank], dtype, device), requires_grad: true);
    }

    /// <summary>The down projection, [r, in] (PEFT's <c>lora_A.weight</c>).</summary>
    public Parameter A { get; }

    /// <summary>The up projection, [out, r] (PEFT's <c>lora_B.weight</c>).</summary>
    public Parameter B { get; }

    /// <summary>The rank r.</summary>
    public int Rank { get; }

    /// <summary>PEFT's <c>lora_alpha</c>.</summary>
    public double Alpha { get; }

    /// <summary>alpha / r, the factor of the low-rank delta.</summary>
    public double Scaling => Alpha / Rank;

    /// <summary>Dropout probability on the adapter's input while training (PEFT's <c>lora_dropout</c>).</summary>
    public double DropoutProbability { get; }

    /// <summary>Whether A or B requires grad (is trained).</summary>
    public bool RequiresGrad => A.requires_grad || B.requires_grad;

    /// <summary>Whether dropout is active (training); false for inference.</summary>
    public bool Training { get; set; }

    /// <summary>The delta <c>scaling · x Aᵀ Bᵀ</c> added to the layer's output.</summary>
    public Tensor Forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var scope = NewDisposeScope();
        var x = Training && DropoutProbability > 0 ? nn.functional.dropout(input, DropoutProbability, training: true) : input;
        return nn.functional.linear(nn.functional.linear(x, A), B).Times(Scaling).MoveToOuterDisposeScope();
    }

    /// <summary>Frees A and B.</summary>
    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}

/// <summary>The LoRA adapters attached to a model, by module path (llava-hf names, e.g. <c>language_model.model.layers.0.self_attn.q_proj</c>).</summary>
public sealed class LlavaLoraSet : IDisposable
{
    private readonly Dictionary<string, (LinearLayer Layer, LoraAdapter Adapter)> entries;

    internal LlavaLoraSet(Dictionary<string, (LinearLayer Layer, LoraAdapter Adapter)> entries, int rank, double alpha, double dropout, IReadOnlyList<string> targetModules)
    {
        this.entries = entries;
        Rank = rank;
        Alpha = alpha;
        Dropout = dropout;
        TargetModules = targetModules;
    }

    /// <summary>The rank r.</summary>
    public int Rank { get; }

    /// <summary>PEFT's <c>lora_alpha</c>.</summary>
    public double Alpha { get; }

    /// <summary>PEFT's <c>lora_dropout</c>.</summary>
    public double Dropout { get; }

    /// <summary>The module names adapted (q_proj, …).</summary>
    public IReadOnlyList<string> TargetModules { get; }

    /// <summary>Adapters by module path, in path order.</summary>
    public IReadOnlyDictionary<string, LoraAdapter> Adapters =>
        entries.OrderBy(e => e.Key, StringComparer.Ordinal).ToDictionary(e => e.Key, e => e.Value.Adapter, StringComparer.Ordinal);

    /// <summary>Whether the adapters' dropout is active.</summary>
    public bool Training
    {
        get => entries.Values.Any(e => e.Adapter.Training);
        set
        {
            foreach (var (_, adapter) in entries.Values)
            {
                adapter.Training = value;
            }
        }
    }

    /// <summary>
    /// Detaches the adapters from their layers until the returned scope is disposed (PEFT's
    /// <c>disable_adapter()</c>): the model computes its base weights, e.g. DPO's reference model.
    /// </summary>
    public IDisposable Disable()
    {
        var detached = entries.Values.Where(e => ReferenceEquals(e.Layer.Adapter, e.Adapter)).ToList();
        detached.ForEach(e => e.Layer.Adapter = null);
        return new AdapterRestore(this, detached);
    }

    /// <summary>The trainable tensors (A and B of every adapter), in path order.</summary>
    public IEnumerable<Parameter> Parameters() =>
        entries.OrderBy(e => e.Key, StringComparer.Ordinal).SelectMany(e => new[] { e.Value.Adapter.A, e.Value.Adapter.B });

    internal IEnumerable<(string Path, LinearLayer Layer, LoraAdapter Adapter)> Entries =>
        entries.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => (e.Key, e.Value.Layer, e.Value.Adapter));

    /// <summary>Detaches the adapters from their layers and frees them.</summary>
    public void Dispose()
    {
        foreach (var (layer, adapter) in entries.Values)
        {
            if (ReferenceEquals(layer.Adapter, adapter))
            {
                layer.Adapter = null;
            }
            adapter.Dispose();
        }
        entries.Clear();
    }

    // Re-attaches what Disable detached, unless the set was disposed meanwhile (its adapters freed).
    private sealed class AdapterRestore(LlavaLoraSet set, List<(LinearLayer Layer, LoraAdapter Adapter)> detached) : IDisposable
    {
        public void Dispose()
        {
            foreach (var (layer, adapter) in detached)
            {
                if (layer.Adapter is null && set.entries.Values.Any(e => ReferenceEquals(e.Adapter, adapter)))
                {
                    layer.Adapter = adapter;
                }
            }
            detached.Clear();
        }
    }
}

/// <summary>
/// LoRA for the LLaVA language model, in PEFT's format: attach, save (adapter_config.json and
/// adapter_model.safetensors with keys <c>base_model.model.&lt;module path&gt;.lora_A.weight</c> /
/// <c>.lora_B.weight</c>, the module path being llava-hf's), load, and merge into the weights.
/// </summary>
public static class LlavaLora
{
    /// <summary>The linear layers of each LLaMA decoder layer: LLaVA's and PEFT's usual targets.</summary>
    public static IReadOnlyList<string> DefaultTargetModules { get; } = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    private const string KeyPrefix = "base_model.model.";

    /// <summary>
    /// Attaches an adapter to every linear layer of the language model (<c>language_model.model.layers.*</c>;
    /// never the vision tower, the projector or lm_head) whose name is in <paramref name="targetModules"/>.
    /// A is drawn from a generator seeded with <paramref name="seed"/>.
    /// </summary>
    /// <exception cref="VlmModelException">A target matches no layer, a layer already has an adapter, or r/alpha/dropout are out of range.</exception>
    public static LlavaLoraSet Attach(LlavaModel model, int r, double alpha, IReadOnlyList<string>? targetModules = null, double dropout = 0, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        targetModules ??= DefaultTargetModules;
        if (r <= 0 || alpha <= 0 || dropout is < 0 or >= 1)
        {
            throw new VlmModelException($"LoRA r {r} and alpha {alpha} must be positive and dropout {dropout} in [0, 1).");
        }
        var layers = LanguageModelLinears(model).Where(l => targetModules.Contains(l.Path[(l.Path.LastIndexOf('.') + 1)..])).ToList();
        foreach (var target in targetModules)
        {
            if (!layers.Any(l => l.Path.EndsWith("." + target, StringComparison.Ordinal)))
            {
                throw new VlmModelException($"LoRA target module '{target}' matches no linear layer of the language model.");
            }
        }
        using var generator = new Generator((ulong)seed);
        var entries = new Dictionary<string, (LinearLayer, LoraAdapter)>(StringComparer.Ordinal);
        foreach (var (path, layer) in layers)
        {
            if (layer.Adapter is not null)
            {
                throw new VlmModelException($"{path} already has an adapter.");
            }
        }
        foreach (var (path, layer) in layers)
        {
            var adapter = new LoraAdapter(layer.Weight.shape[1], layer.Weight.shape[0], r, alpha, dropout, layer.Weight.device, layer.Weight.dtype, generator);
            layer.Adapter = adapter;
            entries[path] = (layer, adapter);
        }
        return new LlavaLoraSet(entries, r, alpha, dropout, [.. targetModules]);
    }

    /// <summary>
    /// Writes <paramref name="adapters"/> in PEFT's format into <paramref name="directory"/>:
    /// adapter_config.json (<c>peft_type</c> LORA, <c>task_type</c> CAUSAL_LM, <c>r</c>, <c>lora_alpha</c>,
    /// <c>lora_dropout</c>, <c>bias</c> none, <c>target_modules</c> as a regular expression restricted to
    /// the language model — PEFT full-matches a string against module names, where a plain list would
    /// also catch the CLIP tower's q/k/v_proj — and <c>base_model_name_or_path</c>) and
    /// adapter_model.safetensors (the adapters' dtype).
    /// </summary>
    public static void Save(LlavaLoraSet adapters, string directory, string baseModelNameOrPath = "")
    {
        ArgumentNullException.ThrowIfNull(adapters);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory.CreateDirectory(directory);
        var config = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = "CAUSAL_LM",
            ["base_model_name_or_path"] = baseModelNameOrPath,
            ["r"] = adapters.Rank,
            ["lora_alpha"] = adapters.Alpha,
            ["lora_dropout"] = adapters.Dropout,
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["use_rslora"] = false,
            ["use_dora"] = false,
            ["modules_to_save"] = null,
            ["target_modules"] = $".*language_model.*\\.({string.Join("|", adapters.TargetModules)})",
        };
        LlavaCheckpointWriter.WriteJson(Path.Combine(directory, "adapter_config.json"), config);
        var tensors = new List<(string, Tensor)>();
        var dtype = ScalarType.Float32;
        foreach (var (path, _, adapter) in adapters.Entries)
        {
            tensors.Add((KeyPrefix + path + ".lora_A.weight", adapter.A));
            tensors.Add((KeyPrefix + path + ".lora_B.weight", adapter.B));
            dtype = adapter.A.dtype;
        }
        SafetensorsWriter.Write(Path.Combine(directory, "adapter_model.safetensors"), tensors, dtype);
    }

    /// <summary>
    /// Reads a PEFT LoRA folder (adapter_config.json + adapter_model.safetensors) and attaches its
    /// adapters to <paramref name="model"/>. Module paths of transformers ≥ 4.52
    /// (<c>model.language_model.layers.*</c>) are accepted too.
    /// </summary>
    /// <exception cref="VlmModelException">A file is missing, the configuration uses what this implementation lacks (rslora, DoRA, per-module ranks), or a tensor names no layer or has another shape; the message names it.</exception>
    public static LlavaLoraSet Load(LlavaModel model, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var configPath = Path.Combine(directory, "adapter_config.json");
        var config = ConfigReader.ReadObject(configPath);
        if (ConfigReader.String(config, "peft_type", configPath, "LORA") != "LORA")
        {
            throw new VlmModelException($"{configPath}: peft_type '{config["peft_type"]}' is not LORA.");
        }
        foreach (var flag in new[] { "use_rslora", "use_dora" })
        {
            if (ConfigReader.Bool(config, flag, configPath, false))
            {
                throw new VlmModelException($"{configPath}: {flag} is true; only plain LoRA (scaling alpha / r) is supported.");
            }
        }
        foreach (var pattern in new[] { "rank_pattern", "alpha_pattern" })
        {
            if (config[pattern] is JsonObject { Count: > 0 })
            {
                throw new VlmModelException($"{configPath}: {pattern} is set; one rank and alpha for every module is supported.");
            }
        }
        var r = ConfigReader.Int(config, "r", configPath);
        var alpha = ConfigReader.Double(config, "lora_alpha", configPath, r);
        var dropout = ConfigReader.Double(config, "lora_dropout", configPath, 0);
        var weightsPath = Path.Combine(directory, "adapter_model.safetensors");
        var header = TensorHeaders.Read(weightsPath);
        var layers = LanguageModelLinears(model).ToDictionary(l => l.Path, l => l.Layer, StringComparer.Ordinal);
        var problems = new List<string>();
        var found = new SortedDictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        foreach (var (key, shape) in header)
        {
            var match = Regex.Match(key, @"^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$");
            if (!match.Success)
            {
                problems.Add($"unexpected tensor {key} (not base_model.model.<module>.lora_A/B.weight)");
                continue;
            }
            var path = NormalisePath(match.Groups[1].Value);
            var part = match.Groups[2].Value;
            if (!layers.TryGetValue(path, out var layer))
            {
                problems.Add($"{key} names module {path}, which is not a linear layer of the language model");
                continue;
            }
            long[] expected = part == "A" ? [r, layer.Weight.shape[1]] : [layer.Weight.shape[0], r];
            if (!shape!.SequenceEqual(expected))
            {
                problems.Add($"{key} has shape [{string.Join(", ", shape!)}], expected [{string.Join(", ", expected)}] for r = {r}");
                continue;
            }
            if (!found.TryGetValue(path, out var parts))
            {
                found[path] = parts = new Dictionary<string, string>(StringComparer.Ordinal);
            }
            parts[part] = key;
        }
        foreach (var (path, parts) in found)
        {
            foreach (var part in new[] { "A", "B" }.Where(p => !parts.ContainsKey(p)))
            {
                problems.Add($"lora_{part} of {path} is missing");
            }
        }
        if (problems.Count > 0)
        {
            throw new VlmModelException($"{weightsPath}: the adapter does not match the model: {string.Join("; ", problems.Take(20))}.");
        }
        var paths = found.Keys.ToList();
        var targets = paths.Select(p => p[(p.LastIndexOf('.') + 1)..]).Distinct().Order(StringComparer.Ordinal).ToList();
        var entries = new Dictionary<string, (LinearLayer, LoraAdapter)>(StringComparer.Ordinal);
        var loaded = Safetensors.LoadStateDict(weightsPath);
        try
        {
            using var noGrad = no_grad();
            foreach (var path in paths)
            {
                var layer = layers[path];
                if (layer.Adapter is not null)
                {
                    throw new VlmModelException($"{path} already has an adapter.");
                }
                var adapter = new LoraAdapter(layer.Weight.shape[1], layer.Weight.shape[0], r, alpha, dropout, layer.Weight.device, layer.Weight.dtype, null);
                adapter.A.copy_(loaded[found[path]["A"]]);
                adapter.B.copy_(loaded[found[path]["B"]]);
                layer.Adapter = adapter;
                entries[path] = (layer, adapter);
            }
        }
        catch
        {
            foreach (var (layer, adapter) in entries.Values)
            {
                layer.Adapter = null;
                adapter.Dispose();
            }
            throw;
        }
        finally
        {
            foreach (var tensor in loaded.Values)
            {
                tensor.Dispose();
            }
        }
        return new LlavaLoraSet(entries, r, alpha, dropout, targets);
    }

    /// <summary>
    /// Folds every adapter into its layer's weight (W += scaling · B · A, computed in float32), then
    /// detaches and frees the adapters: the model computes what it did with them, without them.
    /// </summary>
    public static void Merge(LlavaLoraSet adapters)
    {
        ArgumentNullException.ThrowIfNull(adapters);
        using (no_grad())
        {
            foreach (var (_, layer, adapter) in adapters.Entries)
            {
                using var scope = NewDisposeScope();
                var delta = adapter.B.to_type(ScalarType.Float32).matmul(adapter.A.to_type(ScalarType.Float32)).Times(adapter.Scaling);
                layer.Weight.copy_(layer.Weight.to_type(ScalarType.Float32).Plus(delta));
            }
        }
        adapters.Dispose();
    }

    private static string NormalisePath(string path) =>
        path.StartsWith("model.language_model.", StringComparison.Ordinal) ? "language_model.model." + path["model.language_model.".Length..] : path;

    private static IEnumerable<(string Path, LinearLayer Layer)> LanguageModelLinears(LlavaModel model) =>
        model.named_modules()
            .Where(m => m.module is LinearLayer && m.name.StartsWith("language_model.model.layers.", StringComparison.Ordinal))
            .Select(m => (m.name, (LinearLayer)m.module));
}
