namespace SynthVlm.Evaluation;

/// <summary>The benchmarks this library implements, by name.</summary>
public static class BenchmarkRegistry
{
    private static readonly Lazy<IReadOnlyList<IBenchmark>> Found = new(() =>
        [.. typeof(BenchmarkRegistry).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false, IsPublic: true } && typeof(IBenchmark).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)
            .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
            .OrderBy(b => b.Name, StringComparer.Ordinal)]);

    /// <summary>Every benchmark, by name.</summary>
    public static IReadOnlyList<IBenchmark> All => Found.Value;

    /// <summary>The benchmark called <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No benchmark has that name; the message lists the names.</exception>
    public static IBenchmark Get(string name) =>
        All.FirstOrDefault(b => string.Equals(b.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"'{name}' is not a benchmark; known: {string.Join(", ", All.Select(b => b.Name))}.", nameof(name));
}
