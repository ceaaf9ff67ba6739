using SynthVlm.Evaluation.Benchmarks;

namespace SynthVlm.Evaluation;

/// <summary>
/// The files a benchmark's evaluation server takes, written beside the answers after a run, as
/// LLaVA's convert_*_for_submission.py scripts write them: VQAv2's test-dev upload (when the
/// folder has llava_vqav2_mscoco_test2015.jsonl), VizWiz's upload (when every question is
/// answered, as the script asserts) and MMBench's TSV and xlsx.
/// </summary>
public static class BenchmarkSubmissions
{
    /// <summary>Writes what <paramref name="benchmark"/> submits into <paramref name="folder"/>; the files written, and why one was not.</summary>
    public static (IReadOnlyList<string> Files, string? Skipped) Write(IBenchmark benchmark, string benchmarkDirectory, AnswerFile answers, string folder)
    {
        ArgumentNullException.ThrowIfNull(benchmark);
        try
        {
            switch (benchmark)
            {
                case Vqav2Benchmark when File.Exists(Path.Combine(benchmarkDirectory, Vqav2Benchmark.TestQuestionFile)):
                    var upload = Path.Combine(folder, "submission_vqav2_test-dev2015.json");
                    var empty = Vqav2Benchmark.WriteSubmission(benchmarkDirectory, answers, upload);
                    return ([upload], empty > 0 ? $"{empty} test questions had no answer and are uploaded as \"\"" : null);
                case Vqav2Benchmark:
                    return ([], $"no {Vqav2Benchmark.TestQuestionFile}: the test-dev upload needs it");
                case VizWizBenchmark:
                    var vizwiz = Path.Combine(folder, "submission_vizwiz_test.json");
                    VizWizBenchmark.WriteSubmission(benchmarkDirectory, answers, vizwiz);
                    return ([vizwiz], null);
                case MmBenchBenchmark mmbench:
                    var (tsv, xlsx) = mmbench.WriteSubmission(benchmarkDirectory, answers, Path.Combine(folder, "submission_mmbench"));
                    return ([tsv, xlsx], null);
                default:
                    return ([], null);
            }
        }
        catch (Exception e) when (e is ArgumentException or BenchmarkFormatException or IOException)
        {
            return ([], e.Message);
        }
    }
}
