using SynthVlm.ChatEndpoints;

namespace SynthVlm.Evaluation;

/// <summary>
/// A benchmark as LLaVA's evaluation scripts lay it out (a folder holding the question file, the
/// images and the annotations), with its official metric. Implementations have a public
/// parameterless constructor; <see cref="BenchmarkRegistry"/> finds them.
/// </summary>
public interface IBenchmark
{
    /// <summary>The name users type (<c>--only vqav2,pope</c>): lower case, e.g. "vqav2", "pope", "mme".</summary>
    string Name { get; }

    /// <summary>The name in reports (the paper's column), e.g. "VQAv2", "POPE".</summary>
    string DisplayName { get; }

    /// <summary>Named variants of the metric besides the official one (e.g. "lmms-eval"); empty when there are none.</summary>
    IReadOnlyList<string> Variants { get; }

    /// <summary>The folder's expected layout in one line (what a user is told when it is wrong).</summary>
    string ExpectedLayout { get; }

    /// <summary>The questions, in the question file's order, with LLaVA-1.5's evaluation prompts.</summary>
    /// <exception cref="BenchmarkFormatException">A file is missing or malformed (named, with the expected format).</exception>
    IEnumerable<BenchmarkQuestion> ReadQuestions(string directory);

    /// <summary>Scores the answers with the official definition (or the variant asked for).</summary>
    /// <exception cref="BenchmarkFormatException">A benchmark file is missing or malformed.</exception>
    /// <exception cref="ArgumentException">The variant is unknown, or the benchmark needs a judge and none was given.</exception>
    Task<BenchmarkMetrics> ScoreAsync(BenchmarkScoring scoring, CancellationToken cancellationToken = default);
}

/// <summary>What a benchmark scores.</summary>
/// <param name="Directory">The benchmark's folder.</param>
/// <param name="Answers">The model's answers.</param>
/// <param name="Variant">A named variant, or null for the official definition.</param>
/// <param name="Judge">The grader or judge for benchmarks that need one (MM-Vet), else null.</param>
public sealed record BenchmarkScoring(string Directory, AnswerFile Answers, string? Variant = null, IChatModel? Judge = null);
