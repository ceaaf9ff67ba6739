using System.Text.Json;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>One MM-Vet question as <c>mm-vet.json</c> holds it.</summary>
/// <param name="Id">The key, e.g. "v1_0".</param>
/// <param name="ImageName">The image file under <c>images/</c>.</param>
/// <param name="Capabilities">The capabilities as a set (repeats dropped, first-seen order).</param>
/// <param name="Question">The question.</param>
/// <param name="Answer">The ground truth, with <c>&lt;AND&gt;</c>/<c>&lt;OR&gt;</c>.</param>
public sealed record MmVetItem(string Id, string ImageName, IReadOnlyList<string> Capabilities, string Question, string Answer)
{
    /// <summary>The capability set's name: its capabilities joined by "_" in the order of <see cref="MmVetBenchmark.CapabilityOrder"/>.</summary>
    public string CombinationName => MmVetBenchmark.CombinationName(Capabilities);
}

/// <summary>Reads <c>mm-vet.json</c> and <c>bard_set.json</c>.</summary>
internal static class MmVetMetadata
{
    public const string FileName = "mm-vet.json";
    public const string SubsetFileName = "bard_set.json";
    private const string Expected = "MM-Vet metadata: a JSON object of id → {\"imagename\", \"capability\": [strings], \"question\", \"answer\"}";

    /// <summary>The questions in file order; a key written twice keeps its first place and its last value, as Python's json.load does.</summary>
    public static IReadOnlyList<MmVetItem> Read(string directory, bool subset)
    {
        var path = Path.GetFullPath(Path.Combine(directory, FileName));
        using var document = Parse(path, Expected);
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw BenchmarkFormatException.For(path, Expected, $"found a JSON {document.RootElement.ValueKind}");
        }
        var items = new List<MmVetItem>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            var item = Item(path, property.Name, property.Value);
            if (index.TryGetValue(item.Id, out var at))
            {
                items[at] = item;
            }
            else
            {
                index[item.Id] = items.Count;
                items.Add(item);
            }
        }
        if (!subset)
        {
            return items;
        }
        var ids = Subset(Path.GetFullPath(Path.Combine(directory, SubsetFileName)));
        return [.. items.Where(i => ids.Contains(i.Id))];
    }

    private static HashSet<string> Subset(string path)
    {
        const string Format = "the Bard subset: a JSON array of MM-Vet ids or an object keyed by them";
        using var document = Parse(path, Format);
        var root = document.RootElement;
        return root.ValueKind switch
        {
            JsonValueKind.Array => [.. root.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String
                ? e.GetString()!
                : throw BenchmarkFormatException.For(path, Format, $"found a {e.ValueKind} in the array"))],
            JsonValueKind.Object => [.. root.EnumerateObject().Select(p => p.Name)],
            _ => throw BenchmarkFormatException.For(path, Format, $"found a JSON {root.ValueKind}"),
        };
    }

    private static MmVetItem Item(string path, string id, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw BenchmarkFormatException.For(path, Expected, $"{id}: found a JSON {value.ValueKind}");
        }
        string Text(string name) =>
            value.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String
                ? e.GetString()!
                : throw BenchmarkFormatException.For(path, Expected, $"{id}: no \"{name}\" string");
        if (!value.TryGetProperty("capability", out var caps) || caps.ValueKind != JsonValueKind.Array)
        {
            throw BenchmarkFormatException.For(path, Expected, $"{id}: no \"capability\" array");
        }
        var capabilities = new List<string>();
        foreach (var cap in caps.EnumerateArray())
        {
            var name = cap.ValueKind == JsonValueKind.String
                ? cap.GetString()!
                : throw BenchmarkFormatException.For(path, Expected, $"{id}: a capability is a {cap.ValueKind}, not a string");
            if (name.Length == 0 || name.Contains('_', StringComparison.Ordinal))
            {
                throw BenchmarkFormatException.For(path, Expected, $"{id}: capability \"{name}\" is empty or contains '_'");
            }
            if (!capabilities.Contains(name))
            {
                capabilities.Add(name);
            }
        }
        if (capabilities.Count == 0)
        {
            throw BenchmarkFormatException.For(path, Expected, $"{id}: empty \"capability\" list");
        }
        var image = value.TryGetProperty("imagename", out var img) && img.ValueKind == JsonValueKind.String ? img.GetString()! : id + ".png";
        return new MmVetItem(id, image, capabilities, Text("question"), Text("answer"));
    }

    private static JsonDocument Parse(string path, string expected)
    {
        if (!File.Exists(path))
        {
            throw BenchmarkFormatException.For(path, expected, "file not found");
        }
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw BenchmarkFormatException.For(path, expected, $"not JSON: {e.Message}");
        }
    }
}
