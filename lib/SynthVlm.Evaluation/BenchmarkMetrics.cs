using System.Text.Json;
using System.Text.Json.Nodes;

namespace SynthVlm.Evaluation;

/// <summary>
/// A benchmark's result: the metrics under the official script's names (nested where the
/// benchmark has parts, e.g. POPE's splits or MME's subtasks), how many answers were scored, and
/// what could not be used.
/// </summary>
public sealed class BenchmarkMetrics
{
    /// <summary>Creates a result.</summary>
    /// <param name="benchmark">The benchmark's name (<see cref="IBenchmark.Name"/>).</param>
    /// <param name="metrics">The metrics, keys as the official evaluation code names them.</param>
    /// <param name="scored">Answers that entered the metric.</param>
    /// <param name="questions">Questions the benchmark has (answers missing for some are counted as the official code counts them).</param>
    /// <param name="problems">Unusable answer or benchmark lines.</param>
    /// <param name="variant">The named variant used, null for the official script's definition.</param>
    public BenchmarkMetrics(string benchmark, JsonObject metrics, int scored, int questions, IReadOnlyList<InputProblem>? problems = null, string? variant = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(benchmark);
        ArgumentNullException.ThrowIfNull(metrics);
        Benchmark = benchmark;
        Metrics = metrics;
        Scored = scored;
        Questions = questions;
        Problems = problems ?? [];
        Variant = variant;
    }

    /// <summary>The benchmark.</summary>
    public string Benchmark { get; }

    /// <summary>The metrics (official names; fractions or percentages as the official script prints them).</summary>
    public JsonObject Metrics { get; }

    /// <summary>Answers that entered the metric.</summary>
    public int Scored { get; }

    /// <summary>Questions in the benchmark.</summary>
    public int Questions { get; }

    /// <summary>Lines that could not be used.</summary>
    public IReadOnlyList<InputProblem> Problems { get; }

    /// <summary>The variant used; null is the official definition.</summary>
    public string? Variant { get; }

    /// <summary>Notes to show with the result (e.g. "3 questions had no answer and count as wrong").</summary>
    public IList<string> Notes { get; } = [];

    /// <summary>Adds <paramref name="notes"/> to <see cref="Notes"/>, in order, and returns this result.</summary>
    public BenchmarkMetrics WithNotes(IEnumerable<string> notes)
    {
        ArgumentNullException.ThrowIfNull(notes);
        foreach (var note in notes)
        {
            Notes.Add(note);
        }
        return this;
    }

    /// <summary>The metrics alone as one JSON object (what <c>synthvlm eval score</c> prints).</summary>
    public string MetricsJson() => Metrics.ToJsonString(new JsonSerializerOptions { WriteIndented = false });

    /// <summary>Everything as one JSON object: benchmark, variant, metrics, counts, problems and notes.</summary>
    public JsonObject ToJson()
    {
        var problems = new JsonArray();
        foreach (var p in Problems)
        {
            problems.Add(new JsonObject { ["file"] = p.File, ["line"] = p.Line, ["problem"] = p.Problem });
        }
        var notes = new JsonArray();
        foreach (var n in Notes)
        {
            notes.Add(n);
        }
        return new JsonObject
        {
            ["benchmark"] = Benchmark,
            ["variant"] = Variant,
            ["metrics"] = Metrics.DeepClone(),
            ["scored"] = Scored,
            ["questions"] = Questions,
            ["problems"] = problems,
            ["notes"] = notes,
        };
    }
}
