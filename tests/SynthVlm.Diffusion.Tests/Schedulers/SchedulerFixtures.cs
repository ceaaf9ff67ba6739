using System.Text.Json;
using SynthVlm.Diffusion.Schedulers;
using SynthVlm.Testing;

namespace SynthVlm.Diffusion.Tests.Schedulers;

/// <summary>The diffusers vectors: shared/reference euler_sdxl.json and Fixtures/scheduler_vectors.json.</summary>
internal static class SchedulerFixtures
{
    public static string Folder { get; } = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Diffusion.Tests", "Schedulers", "Fixtures");

    /// <summary>shared/reference/vectors/euler_sdxl.json where the checkout has it, else the verbatim copy in Fixtures.</summary>
    public static JsonElement EulerSdxl { get; } = Load(SharedOrCopy("euler_sdxl.json", "shared_reference_euler_sdxl.json"));

    /// <summary>Written by Fixtures/make_scheduler_vectors.py from diffusers' own scheduler files.</summary>
    public static JsonElement Vectors { get; } = Load(Path.Combine(Folder, "scheduler_vectors.json"));

    /// <summary>The values as float32 widened to double: every fixture number is a float32 written in its shortest decimal form.</summary>
    public static double[] Doubles(this JsonElement element) => element.EnumerateArray().Select(e => (double)(float)e.GetDouble()).ToArray();

    public static float[] Floats(this JsonElement element) => element.EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();

    /// <summary>A SchedulerConfig from a fixture's "config" object, through the same JSON parser as scheduler_config.json.</summary>
    public static SchedulerConfig Config(JsonElement run) =>
        SchedulerConfig.FromJson(run.GetProperty("config").GetRawText(), "fixture") with { ClassName = run.GetProperty("class").GetString() };

    private static JsonElement Load(string path) => JsonDocument.Parse(File.ReadAllBytes(path)).RootElement;

    private static string SharedOrCopy(string shared, string copy)
    {
        string[] candidates =
        [
            Path.Combine(RepoPaths.Root, "shared", "reference", "vectors", shared),
            Path.Combine(Path.GetDirectoryName(RepoPaths.Root.TrimEnd(Path.DirectorySeparatorChar))!, "shared", "reference", "vectors", shared),
        ];
        return candidates.FirstOrDefault(File.Exists) ?? Path.Combine(Folder, copy);
    }
}

/// <summary>Replays explicit noise arrays in order, so C# and diffusers see the same values.</summary>
internal sealed class ReplayNoise(IEnumerable<float[]> arrays) : IGaussianNoise
{
    private readonly Queue<float[]> _arrays = new(arrays);

    public int Remaining => _arrays.Count;

    public void Fill(Span<float> destination)
    {
        var next = _arrays.Dequeue();
        next.AsSpan().CopyTo(destination);
        if (next.Length != destination.Length)
        {
            throw new InvalidOperationException($"noise array has {next.Length} values, {destination.Length} requested");
        }
    }
}

internal static class Assertions
{
    /// <summary>|actual − expected| ≤ abs + rel·|expected| for every element, reporting the worst one.</summary>
    public static void Close(IReadOnlyList<double> actual, IReadOnlyList<double> expected, double abs, double rel, string what)
    {
        actual.Count.Should().Be(expected.Count, $"{what}: length");
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.Count; i++)
        {
            double excess = Math.Abs(actual[i] - expected[i]) - (abs + (rel * Math.Abs(expected[i])));
            if (!(excess <= worstExcess) || double.IsNaN(actual[i]))
            {
                worstExcess = double.IsNaN(actual[i]) ? double.PositiveInfinity : excess;
                worst = i;
            }
        }

        if (worst >= 0)
        {
            throw new Xunit.Sdk.XunitException($"{what}: element {worst} is {actual[worst]:R}, expected {expected[worst]:R} (abs {abs}, rel {rel})");
        }
    }

    public static void Close(IReadOnlyList<float> actual, IReadOnlyList<float> expected, double abs, double rel, string what) =>
        Close(actual.Select(v => (double)v).ToArray(), expected.Select(v => (double)v).ToArray(), abs, rel, what);
}
