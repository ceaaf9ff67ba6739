using System.Text.Json.Nodes;
using SynthVlm.Testing;

namespace SynthVlm.Evaluation.Tests;

/// <summary>The LLaVA-1.5 benchmarks' parity fixtures (Fixtures/&lt;benchmark&gt;/, expected.json written by make_reference.py from the official code).</summary>
internal static class LlavaFixtures
{
    /// <summary>Agreement with the official Python code: both compute the same few divisions in double, so only the last bit may differ, and not even that.</summary>
    public const double Tolerance = 1e-9;

    /// <summary>The fixture folder of a benchmark.</summary>
    public static string Folder(string benchmark) => Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Evaluation.Tests", "Fixtures", benchmark);

    /// <summary>expected.json of a benchmark.</summary>
    public static JsonObject Expected(string benchmark) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(Folder(benchmark), "expected.json")))!.AsObject();

    /// <summary>Every key of <paramref name="expected"/> is in <paramref name="actual"/> with the same number (within <see cref="Tolerance"/>) or the same nested object, and no key more.</summary>
    public static void ShouldMatch(JsonNode? actual, JsonNode? expected, string path = "$")
    {
        if (expected is JsonObject e)
        {
            actual.Should().BeOfType<JsonObject>(path);
            var a = (JsonObject)actual!;
            a.Select(p => p.Key).Should().BeEquivalentTo(e.Select(p => p.Key), path);
            foreach (var (key, value) in e)
            {
                ShouldMatch(a[key], value, $"{path}.{key}");
            }
            return;
        }
        actual.Should().NotBeNull(path);
        Number(actual!).Should().BeApproximately(Number(expected!), Tolerance, path);
    }

    private static double Number(JsonNode node) => double.Parse(node.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture);
}
