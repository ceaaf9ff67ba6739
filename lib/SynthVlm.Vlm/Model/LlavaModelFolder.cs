using System.Text.Json.Nodes;

namespace SynthVlm.Vlm.Model;

/// <summary>
/// What a LLaVA model folder holds, resolved without reading any weights: the layout, the
/// configuration, the weight files (and for LLaVA's layout the separate vision tower folder), and
/// where the tokenizer and the image processor's settings are.
/// </summary>
/// <param name="Directory">The model folder.</param>
/// <param name="Layout">LLaVA's own layout or llava-hf's.</param>
/// <param name="Config">The model configuration.</param>
/// <param name="WeightFiles">The model's weight files (safetensors, or PyTorch .bin in LLaVA's releases).</param>
/// <param name="VisionTowerDirectory">LLaVA layout: the CLIP folder named by <c>mm_vision_tower</c>; null for llava-hf.</param>
/// <param name="VisionTowerWeightFiles">The CLIP folder's weight files (empty for llava-hf).</param>
/// <param name="TokenizerDirectory">The folder holding tokenizer.model and its configuration.</param>
/// <param name="PreprocessorConfigPath">preprocessor_config.json of the image processor.</param>
public sealed record LlavaModelFolder(
    string Directory,
    LlavaLayout Layout,
    LlavaConfig Config,
    IReadOnlyList<string> WeightFiles,
    string? VisionTowerDirectory,
    IReadOnlyList<string> VisionTowerWeightFiles,
    string TokenizerDirectory,
    string PreprocessorConfigPath)
{
    /// <summary>
    /// Reads <paramref name="directory"/>/config.json and finds the files of either layout.
    /// <paramref name="visionTowerDirectory"/> overrides LLaVA's <c>mm_vision_tower</c> (a hub id
    /// such as openai/clip-vit-large-patch14-336 is otherwise looked up next to the model, then in
    /// the Hugging Face cache).
    /// </summary>
    /// <exception cref="VlmModelException">The folder, its config or a file it needs is missing or unusable; the message names it.</exception>
    public static LlavaModelFolder Open(string directory, string? visionTowerDirectory = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!System.IO.Directory.Exists(directory))
        {
            throw new VlmModelException($"{directory}: model folder not found.");
        }
        var configPath = Path.Combine(directory, "config.json");
        var json = ConfigReader.ReadObject(configPath);
        var isHuggingFace = json["vision_config"] is JsonObject && json["text_config"] is JsonObject;
        var isOriginal = json["mm_vision_tower"] is not null;
        if (isHuggingFace)
        {
            var config = LlavaConfig.FromHuggingFace(json, configPath);
            return new LlavaModelFolder(
                directory, LlavaLayout.HuggingFace, config, WeightFilesOf(directory), null, [], directory,
                Path.Combine(directory, "preprocessor_config.json"));
        }
        if (!isOriginal)
        {
            throw new VlmModelException(
                $"{configPath}: neither a llava-hf config (vision_config + text_config) nor a LLaVA one (mm_vision_tower); model_type is '{json["model_type"]}'.");
        }
        var towerName = json["mm_vision_tower"]!.GetValue<string>();
        var tower = visionTowerDirectory ?? ResolveVisionTower(directory, towerName, configPath);
        var towerConfigPath = Path.Combine(tower, "config.json");
        var originalConfig = LlavaConfig.FromOriginal(json, ConfigReader.ReadObject(towerConfigPath), configPath, towerConfigPath);
        return new LlavaModelFolder(
            directory, LlavaLayout.Original, originalConfig, WeightFilesOf(directory), tower, WeightFilesOf(tower), directory,
            Path.Combine(tower, "preprocessor_config.json"));
    }

    private static string ResolveVisionTower(string modelDirectory, string name, string configPath)
    {
        string[] candidates =
        [
            name,
            Path.Combine(modelDirectory, name),
            Path.Combine(modelDirectory, Path.GetFileName(name)),
        ];
        foreach (var candidate in candidates)
        {
            if (File.Exists(Path.Combine(candidate, "config.json")))
            {
                return Path.GetFullPath(candidate);
            }
        }
        // A hub id in the Hugging Face cache: hub/models--owner--name/snapshots/<revision>/.
        var cache = Environment.GetEnvironmentVariable("HF_HUB_CACHE")
            ?? Path.Combine(Environment.GetEnvironmentVariable("HF_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "huggingface"), "hub");
        var snapshots = Path.Combine(cache, "models--" + name.Replace("/", "--", StringComparison.Ordinal), "snapshots");
        if (System.IO.Directory.Exists(snapshots))
        {
            var snapshot = System.IO.Directory.GetDirectories(snapshots).FirstOrDefault(d => File.Exists(Path.Combine(d, "config.json")));
            if (snapshot is not null)
            {
                return snapshot;
            }
        }
        throw new VlmModelException(
            $"{configPath}: mm_vision_tower '{name}' is not a folder (tried it as a path, next to the model, and in the Hugging Face cache {cache}); pass the CLIP folder explicitly (--vision-tower).");
    }

    /// <summary>The weight files of a folder: a safetensors index's shards, one model.safetensors, or PyTorch .bin files.</summary>
    internal static IReadOnlyList<string> WeightFilesOf(string directory)
    {
        foreach (var (index, single) in new[] { ("model.safetensors.index.json", "model.safetensors"), ("pytorch_model.bin.index.json", "pytorch_model.bin") })
        {
            var indexPath = Path.Combine(directory, index);
            if (File.Exists(indexPath))
            {
                var map = ConfigReader.ReadObject(indexPath)["weight_map"] as JsonObject
                    ?? throw new VlmModelException($"{indexPath}: no weight_map object.");
                var files = map.Select(kv => kv.Value?.GetValue<string>() ?? throw new VlmModelException($"{indexPath}: weight_map entry '{kv.Key}' has no file."))
                    .Distinct(StringComparer.Ordinal)
                    .Select(f => Path.Combine(directory, f))
                    .ToList();
                var missing = files.Where(f => !File.Exists(f)).ToList();
                if (missing.Count > 0)
                {
                    throw new VlmModelException($"{indexPath}: shard file(s) missing: {string.Join(", ", missing.Select(Path.GetFileName))}.");
                }
                return files;
            }
            var singlePath = Path.Combine(directory, single);
            if (File.Exists(singlePath))
            {
                return [singlePath];
            }
        }
        throw new VlmModelException($"{directory}: no weights (model.safetensors, model.safetensors.index.json, pytorch_model.bin or its index).");
    }
}
