using SynthVlm.Evaluation.Benchmarks;

namespace SynthVlm.Evaluation.Tests;

/// <summary>The four LLaVA-1.5 benchmarks (POPE, MME, ScienceQA, SEED-Bench) as the registry finds them.</summary>
public sealed class LlavaBenchmarkRegistryTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("synthvlm-llava-");

    [Theory]
    [InlineData("pope", typeof(PopeBenchmark), PopeBenchmark.QuestionFile)]
    [InlineData("mme", typeof(MmeBenchmark), MmeBenchmark.QuestionFile)]
    [InlineData("scienceqa", typeof(ScienceQaBenchmark), ScienceQaBenchmark.QuestionFile)]
    [InlineData("seed", typeof(SeedBenchmark), SeedBenchmark.QuestionFile)]
    public void The_registry_finds_it_and_a_missing_question_file_is_named(string name, Type type, string questionFile)
    {
        var benchmark = BenchmarkRegistry.Get(name);

        benchmark.Should().BeOfType(type);
        benchmark.ExpectedLayout.Should().Contain(questionFile);
        FluentActions.Invoking(() => benchmark.ReadQuestions(_dir.FullName).ToList()).Should().Throw<BenchmarkFormatException>()
            .Which.Message.Should().StartWith(Path.Combine(_dir.FullName, questionFile)).And.Contain("does not exist").And.NotContain("\n");
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Delete(recursive: true);
}
