using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;
using SynthVlm.Evaluation;
using SynthVlm.Evaluation.Benchmarks;
using SynthVlm.Testing;

namespace SynthVlm.Evaluation.Tests;

/// <summary>
/// MMLU against the official code: Fixtures/mmlu/expected.json is written by make_reference.py, which runs
/// hendrycks/test's evaluate_flan.py (prompts, argmax, categories.py aggregation) with stand-in logits, and
/// VLMEvalKit's can_infer for generated answers, on the committed CSVs, scores and answers.
/// </summary>
public sealed class MmluBenchmarkTests : IDisposable
{
    // Accuracies are ratios of small integer counts: the only error is the final division's rounding.
    private const double Tolerance = 1e-9;

    private static readonly string Fixtures = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Evaluation.Tests", "Fixtures", "mmlu");
    private static readonly string Data = Path.Combine(Fixtures, "data");
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("synthvlm-mmlu-");
    private readonly MmluBenchmark _benchmark = new();

    private static JsonElement Expected { get; } = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures, "expected.json"))).RootElement;

    [Fact]
    public void Prompts_equal_the_official_five_shot_prompts()
    {
        var questions = _benchmark.ReadQuestions(Data).ToList();

        var expected = Expected.GetProperty("prompts").EnumerateObject().ToList();
        questions.Select(q => q.Id).Should().Equal(expected.Select(e => e.Name));
        foreach (var (q, e) in questions.Zip(expected))
        {
            q.Prompt.Should().Be(e.Value.GetString(), q.Id);
        }
        questions.Should().OnlyContain(q => q.ImagePath == null && q.Shots == null);
    }

    [Fact]
    public void Fewer_shots_drop_dev_examples_from_the_end()
    {
        var full = _benchmark.Prompt(Data, "abstract_algebra", 0);
        var none = _benchmark.Prompt(Data, "abstract_algebra", 0, shots: 0);

        full.Should().Be(Expected.GetProperty("prompts").GetProperty("abstract_algebra/0").GetString());
        none.Should().Be("The following are multiple choice questions (with answers) about  abstract algebra.\n\nWhat is 2+2?\nA. 4\nB. 3.0\nC. nan\nD. 0.25\nAnswer:");
    }

    [Fact]
    public void Letter_scores_are_scored_by_the_official_argmax()
    {
        var scores = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures, "letter_scores.json"))).RootElement
            .EnumerateObject().ToDictionary(p => p.Name, p => (IReadOnlyList<double>)[.. p.Value.EnumerateArray().Select(v => v.GetDouble())]);

        var result = _benchmark.ScoreLetterScores(Data, scores);

        ShouldEqual(result.Metrics, Expected.GetProperty("letter_scores"));
        result.Questions.Should().Be(scores.Count);
        result.Notes.Should().BeEmpty();
    }

    [Fact]
    public async Task Generated_answers_are_read_as_can_infer_reads_them_and_scored_as_the_official_code()
    {
        var answers = AnswerFile.Read(Path.Combine(Fixtures, "answers.jsonl"));

        var result = await _benchmark.ScoreAsync(new BenchmarkScoring(Data, answers));

        ShouldEqual(result.Metrics, Expected.GetProperty("generated"));
        result.Problems.Select(p => p.Line).Should().Equal(4, 8);
        result.Notes.Should().Contain(n => n.StartsWith("5 questions had no answer", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_model_that_scores_options_is_asked_for_its_A_to_D_scores_and_the_run_equals_the_official_argmax()
    {
        var letterScores = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures, "letter_scores.json"))).RootElement
            .EnumerateObject().ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(v => v.GetDouble()).ToArray());
        var byPrompt = _benchmark.ReadQuestions(Data).Where(q => letterScores.ContainsKey(q.Id)).ToDictionary(q => q.Prompt, q => letterScores[q.Id]);
        var model = new ScoringModel(byPrompt);
        var output = Path.Combine(_dir.FullName, "out");

        var run = await new BenchmarkRunner(model).RunAsync(_benchmark, Data, output);

        model.Generated.Should().Be(0, "every MMLU question is answered by its option scores");
        model.Scored.Should().Be(byPrompt.Count + run.Failures.Count);
        run.Failures.Should().HaveCount(_benchmark.ReadQuestions(Data).Count() - byPrompt.Count, "questions the fixture has no scores for fail alone");
        ShouldEqual(run.Metrics!.Metrics, Expected.GetProperty("letter_scores"));
        var lines = AnswerFile.Read(run.AnswersPath).All;
        lines.Should().OnlyContain(a => a.Fields.GetProperty(BenchmarkRunner.OptionScoresField).GetArrayLength() == 4 && a.Text.Length == 1);
        var rescored = await _benchmark.ScoreAsync(new BenchmarkScoring(Data, AnswerFile.Read(run.AnswersPath)));
        ShouldEqual(rescored.Metrics, Expected.GetProperty("letter_scores"));
        rescored.Notes.Should().Contain(n => n.StartsWith($"{lines.Count} answers were read from their A–D scores", StringComparison.Ordinal));

        var generatedOnly = await new BenchmarkRunner(model, new BenchmarkRunOptions(ScoreOptions: false)).RunAsync(_benchmark, Data, Path.Combine(_dir.FullName, "generated"));
        model.Generated.Should().Be(_benchmark.ReadQuestions(Data).Count(), "ScoreOptions false generates the answers");
        generatedOnly.Metrics!.Metrics["Average accuracy"]!.GetValue<double>().Should().Be(0, "the model's generated text names no option");

        var cannotScore = new ScoringModel(new Dictionary<string, double[]>());
        var fellBack = await new BenchmarkRunner(cannotScore).RunAsync(_benchmark, Data, Path.Combine(_dir.FullName, "fallback"));
        cannotScore.Scored.Should().Be(cannotScore.Generated, "a question the model fails to score is generated instead");
        fellBack.Failures.Should().BeEmpty();
        AnswerFile.Read(fellBack.AnswersPath).All.Should().OnlyContain(a => !a.Fields.GetRawText().Contains(BenchmarkRunner.OptionScoresField));
        fellBack.Metrics!.Notes.Should().Contain(n => n.Contains("named no option", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Option_scores_that_are_not_four_numbers_are_reported_with_their_line_and_count_as_wrong()
    {
        Write("answers.jsonl", """
            {"question_id": "abstract_algebra/0", "text": "A", "option_scores": [1, 2, 3, 4]}
            {"question_id": "abstract_algebra/1", "text": "A", "option_scores": [1, 2, "x", 4]}
            {"question_id": "abstract_algebra/2", "text": "A", "option_scores": [1, 2]}
            """);

        var result = await _benchmark.ScoreAsync(new BenchmarkScoring(Data, AnswerFile.Read(Path.Combine(_dir.FullName, "answers.jsonl"))));

        result.Problems.Select(p => p.Line).Should().Equal(2, 3);
        result.Problems[0].Problem.Should().Contain("abstract_algebra/1").And.Contain("must be 4 numbers");
    }

    /// <summary>Answers every MMLU prompt by the fixture's stand-in logits; its generated text names no option.</summary>
    private sealed class ScoringModel(IReadOnlyDictionary<string, double[]> byPrompt) : IOptionScoringModel
    {
        private int _scored;
        private int _generated;

        public string ModelName => "scoring-fake";

        public int Scored => Volatile.Read(ref _scored);

        public int Generated => Volatile.Read(ref _generated);

        public Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _generated);
            return Task.FromResult(new ChatReply("I do not know."));
        }

        public Task<IReadOnlyList<double>> ScoreOptionsAsync(ChatRequest request, IReadOnlyList<string> options, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _scored);
            options.Should().Equal("A", "B", "C", "D");
            return byPrompt.TryGetValue(request.Messages[^1].Text, out var scores)
                ? Task.FromResult<IReadOnlyList<double>>(scores)
                : Task.FromException<IReadOnlyList<double>>(new ChatModelException("no stand-in logits for this prompt"));
        }
    }

    [Fact]
    public void Missing_and_malformed_scores_count_as_wrong_and_are_said()
    {
        var scores = new Dictionary<string, IReadOnlyList<double>> { ["abstract_algebra/0"] = [0, 1, 0] };

        var result = _benchmark.ScoreLetterScores(Data, scores);

        result.Metrics["Average accuracy"]!.GetValue<double>().Should().Be(0);
        result.Problems.Should().ContainSingle().Which.Problem.Should().Be("question abstract_algebra/0: expected 4 scores (A, B, C, D), found 3");
        result.Notes.Should().ContainSingle().Which.Should().StartWith("49 questions had no letter scores");
    }

    [Theory]
    [InlineData(new[] { 1.0, 3.0, 3.0, 2.0 }, 1)]
    [InlineData(new[] { -1.0, -1.0, -1.0, -1.0 }, 0)]
    [InlineData(new[] { 1.0, double.NaN, 5.0, double.NaN }, 1)]
    [InlineData(new[] { double.NegativeInfinity, -100.0, double.NegativeInfinity, -100.0 }, 1)]
    public void Argmax_is_numpys(double[] values, int expected) => MmluBenchmark.ArgMax(values).Should().Be(expected);

    // Expected values are Python 3.11's str(float) (the prompt prints pandas' float cells with it).
    [Theory]
    [InlineData(0.5, "0.5")]
    [InlineData(2.0, "2.0")]
    [InlineData(100000.0, "100000.0")]
    [InlineData(1e16, "1e+16")]
    [InlineData(1.5e16, "1.5e+16")]
    [InlineData(9999999999999998.0, "9999999999999998.0")]
    [InlineData(1e-4, "0.0001")]
    [InlineData(1e-5, "1e-05")]
    [InlineData(0.00012345, "0.00012345")]
    [InlineData(123456789.125, "123456789.125")]
    [InlineData(-0.0, "-0.0")]
    [InlineData(5e-324, "5e-324")]
    [InlineData(1.7976931348623157e308, "1.7976931348623157e+308")]
    [InlineData(0.30000000000000004, "0.30000000000000004")]
    [InlineData(1.0 / 3, "0.3333333333333333")]
    [InlineData(-2.5e-7, "-2.5e-07")]
    [InlineData(1e22, "1e+22")]
    [InlineData(12345678901234567890.0, "1.2345678901234567e+19")]
    public void Floats_print_as_python_prints_them(double value, string expected) => PythonText.FloatText(value).Should().Be(expected);

    // pandas 1.5 read_csv(header=None) column types, printed with str (checked with Debian's pandas).
    [Theory]
    [InlineData(new[] { "1", "2", "3" }, new[] { "1", "2", "3" })]
    [InlineData(new[] { "1", null, "3" }, new[] { "1.0", "nan", "3.0" })]
    [InlineData(new[] { "1", "2.5", "+3" }, new[] { "1.0", "2.5", "3.0" })]
    [InlineData(new[] { "True", "false", "TRUE" }, new[] { "True", "False", "True" })]
    [InlineData(new[] { "True", "1" }, new[] { "True", "1" })]
    [InlineData(new[] { "1", "two" }, new[] { "1", "two" })]
    [InlineData(new string?[] { null, null }, new[] { "nan", "nan" })]
    [InlineData(new[] { "1e3", ".5", "5." }, new[] { "1000.0", "0.5", "5.0" })]
    public void Csv_columns_print_as_pandas_reads_them(string?[] cells, string[] expected) => MmluBenchmark.PrintColumn(cells).Should().Equal(expected);

    [Fact]
    public void A_folder_without_test_files_names_the_folder_and_the_layout()
    {
        var act = () => _benchmark.ReadQuestions(_dir.FullName).ToList();

        act.Should().Throw<BenchmarkFormatException>().WithMessage($"{_dir.FullName}: expected hendrycks/test's data folder*(no test/ folder).");
    }

    [Fact]
    public void A_missing_dev_file_is_named()
    {
        Write("test/anatomy_test.csv", "q,a,b,c,d,A\n");

        var act = () => _benchmark.ReadQuestions(_dir.FullName).ToList();

        act.Should().Throw<BenchmarkFormatException>().WithMessage($"{Path.Combine(_dir.FullName, "dev", "anatomy_dev.csv")}: expected an MMLU CSV with 6 columns without a header: question, A, B, C, D, answer (the file does not exist).");
    }

    [Fact]
    public void A_csv_with_the_wrong_columns_names_the_file_and_the_expected_columns()
    {
        Write("dev/anatomy_dev.csv", string.Concat(Enumerable.Repeat("q,a,b,c,d,A\n", 5)));
        Write("test/anatomy_test.csv", "q,a,b,c,A\n");

        var act = () => _benchmark.ReadQuestions(_dir.FullName).ToList();

        act.Should().Throw<BenchmarkFormatException>().WithMessage($"{Path.Combine(_dir.FullName, "test", "anatomy_test.csv")}: expected an MMLU CSV with 6 columns without a header: question, A, B, C, D, answer (line 1 has 5 fields).");
    }

    [Fact]
    public void Too_few_dev_rows_for_five_shots_is_an_error()
    {
        Write("dev/anatomy_dev.csv", "q,a,b,c,d,A\nq,a,b,c,d,B\n");
        Write("test/anatomy_test.csv", "q,a,b,c,d,A\n");

        var act = () => _benchmark.ReadQuestions(_dir.FullName).ToList();

        act.Should().Throw<BenchmarkFormatException>().WithMessage("*anatomy_dev.csv: expected at least 5 dev rows (the 5 shots) (found 2).");
    }

    [Fact]
    public void A_subject_outside_categories_py_counts_only_for_itself_and_the_average()
    {
        Write("dev/klingon_dev.csv", string.Concat(Enumerable.Repeat("q,a,b,c,d,A\n", 5)));
        Write("test/klingon_test.csv", "q,a,b,c,d,A\nq,a,b,c,d,B\n");

        var result = _benchmark.ScoreLetterScores(_dir.FullName, new Dictionary<string, IReadOnlyList<double>> { ["klingon/0"] = [1, 0, 0, 0], ["klingon/1"] = [1, 0, 0, 0] });

        result.Metrics["Average accuracy"]!.GetValue<double>().Should().Be(0.5);
        result.Metrics["subjects"]!["klingon"]!.GetValue<double>().Should().Be(0.5);
        result.Metrics["categories"]!.AsObject().Should().BeEmpty();
        result.Notes.Should().ContainSingle().Which.Should().Contain("klingon");
    }

    [Fact]
    public void The_registry_finds_mmlu() => BenchmarkRegistry.Get("mmlu").Should().BeOfType<MmluBenchmark>();

    private static void ShouldEqual(JsonObject actual, JsonElement expected)
    {
        actual.Select(p => p.Key).Should().Equal(expected.EnumerateObject().Select(p => p.Name));
        foreach (var p in expected.EnumerateObject())
        {
            if (p.Value.ValueKind == JsonValueKind.Object)
            {
                ShouldEqual(actual[p.Name]!.AsObject(), p.Value);
            }
            else
            {
                actual[p.Name]!.GetValue<double>().Should().BeApproximately(p.Value.GetDouble(), Tolerance, p.Name);
            }
        }
    }

    private void Write(string relative, string text)
    {
        var path = Path.Combine(_dir.FullName, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Delete(recursive: true);
}
