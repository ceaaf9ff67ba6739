using System.IO.Compression;
using System.Text.Json;
using System.Xml.Linq;
using SynthVlm.Evaluation;
using SynthVlm.Evaluation.Benchmarks;
using SynthVlm.Testing;

namespace SynthVlm.Evaluation.Tests;

/// <summary>
/// MMBench against the official code: Fixtures/mmbench/expected.json is written by make_reference.py, which runs
/// LLaVA's model_vqa_mmbench.py (prompts) and convert_mmbench_for_submission.py, and VLMEvalKit's
/// ImageMCQDataset.evaluate with exact matching, on the committed TSV and answers.
/// </summary>
public sealed class MmBenchBenchmarkTests : IDisposable
{
    // Accuracies are ratios of small integer counts: the only error is the final division's rounding.
    private const double Tolerance = 1e-9;

    private static readonly string Fixtures = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Evaluation.Tests", "Fixtures", "mmbench");
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("synthvlm-mmbench-");
    private readonly MmBenchBenchmark _benchmark = new();

    private static JsonElement Expected { get; } = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures, "expected.json"))).RootElement;

    [Fact]
    public async Task Metrics_equal_vlmevalkit_circular_exact_matching()
    {
        var answers = AnswerFile.Read(Path.Combine(Fixtures, "answers.jsonl"));

        var result = await _benchmark.ScoreAsync(new BenchmarkScoring(Fixtures, answers));

        var expected = Expected.GetProperty("metrics").EnumerateObject().ToList();
        result.Metrics.Select(p => p.Key).Should().Equal(expected.Select(p => p.Name), "report_acc's columns in its order");
        foreach (var p in expected)
        {
            result.Metrics[p.Name]!.GetValue<double>().Should().BeApproximately(p.Value.GetDouble(), Tolerance, p.Name);
        }
        result.Questions.Should().Be(9);
        result.Scored.Should().Be(9);
    }

    [Fact]
    public void Each_question_is_right_only_when_every_circular_copy_is()
    {
        var answers = AnswerFile.Read(Path.Combine(Fixtures, "answers.jsonl"));

        var hits = _benchmark.CircularHits(Fixtures, answers);

        var expected = Expected.GetProperty("hits").EnumerateObject().ToDictionary(p => long.Parse(p.Name, System.Globalization.CultureInfo.InvariantCulture), p => p.Value.GetInt32() == 1);
        hits.Should().BeEquivalentTo(expected);
    }

    [Fact]
    public async Task Unusable_answer_lines_and_unknown_indices_are_reported_and_the_rest_scored()
    {
        var answers = AnswerFile.Read(Path.Combine(Fixtures, "answers.jsonl"));

        var result = await _benchmark.ScoreAsync(new BenchmarkScoring(Fixtures, answers));

        result.Problems.Select(p => p.Line).Should().Equal(6, 10, 35);
        result.Problems[0].Problem.Should().StartWith("not JSON");
        result.Problems[1].Problem.Should().Contain("question 7").And.Contain("text");
        result.Problems[2].Problem.Should().Contain("999").And.Contain("not an index");
        result.Notes.Should().Contain(n => n.StartsWith("2 of 33 TSV rows had no answer", StringComparison.Ordinal));
        result.Notes.Should().Contain(n => n.Contains("replaced by a later answer", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_a_judge_unread_predictions_are_extracted_as_vlmevalkit_does()
    {
        var answers = AnswerFile.Read(Path.Combine(Fixtures, "answers.jsonl"));
        var judge = new ScriptedJudge(Path.Combine(Fixtures, "judge_replies.json"));

        var result = await _benchmark.ScoreAsync(new BenchmarkScoring(Fixtures, answers, Judge: judge));

        var expected = Expected.GetProperty("judged");
        var metrics = expected.GetProperty("metrics").EnumerateObject().ToList();
        result.Metrics.Select(p => p.Key).Should().Equal(metrics.Select(p => p.Name));
        foreach (var p in metrics)
        {
            result.Metrics[p.Name]!.GetValue<double>().Should().BeApproximately(p.Value.GetDouble(), Tolerance, p.Name);
        }
        judge.Prompts.Should().Equal(expected.GetProperty("judge_prompts").EnumerateArray().Select(p => p.GetString()!));
        result.Notes.Should().Contain(n => n.Contains("judge scripted was asked 6 times", StringComparison.Ordinal));
        var hits = _benchmark.CircularHits(Fixtures, answers, new ScriptedJudge(Path.Combine(Fixtures, "judge_replies.json")));
        hits.Should().BeEquivalentTo(expected.GetProperty("hits").EnumerateObject().ToDictionary(p => long.Parse(p.Name, System.Globalization.CultureInfo.InvariantCulture), p => p.Value.GetInt32() == 1));
    }

    [Fact]
    public async Task A_judge_that_never_names_an_option_gets_three_asks_then_a_seeded_random_choice()
    {
        var answers = AnswerFile.Read(Path.Combine(Fixtures, "answers.jsonl"));
        var failing = new FailingJudge();

        var first = await _benchmark.ScoreAsync(new BenchmarkScoring(Fixtures, answers, Judge: failing));
        var second = await _benchmark.ScoreAsync(new BenchmarkScoring(Fixtures, answers, Judge: new FailingJudge()));

        failing.Calls.Should().BeGreaterThanOrEqualTo(3).And.Subject.Should().Match(c => c % 3 == 0, "each unread prediction is asked about three times");
        first.Notes.Should().Contain(n => n.Contains("drawn at random (seeded)", StringComparison.Ordinal));
        first.MetricsJson().Should().Be(second.MetricsJson(), "the fallback is seeded");
    }

    [Fact]
    public void Prompts_equal_llava_single_pred_prompts_one_per_row()
    {
        var dir = CopyTsv();

        var questions = _benchmark.ReadQuestions(dir).ToList();

        var expected = Expected.GetProperty("prompts").EnumerateArray().ToList();
        questions.Select(q => q.Id).Should().Equal(expected.Select(e => e.GetProperty("question_id").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture)));
        questions.Select(q => q.Prompt).Should().Equal(expected.Select(e => e.GetProperty("prompt").GetString()));
        questions.Should().OnlyContain(q => q.AnswerFields!["round_id"] == "0");
    }

    [Fact]
    public void All_rounds_rotate_the_options_as_llava_all_rounds_does()
    {
        var dir = CopyTsv();

        var questions = _benchmark.ReadQuestions(dir, allRounds: true);

        var expected = Expected.GetProperty("prompts_all_rounds").EnumerateArray().ToList();
        questions.Select(q => (q.Id, q.AnswerFields!["round_id"], q.Prompt)).Should().Equal(expected.Select(e => (
            e.GetProperty("question_id").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture),
            e.GetProperty("round_id").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture),
            e.GetProperty("prompt").GetString()!)));
    }

    [Fact]
    public void Images_are_decoded_once_into_the_cache_folder_and_shared_images_are_resolved()
    {
        var dir = CopyTsv();

        var questions = _benchmark.ReadQuestions(dir).ToList();

        var cache = Path.Combine(dir, ".cache", "mmbench-images", "mmbench_dev_20230712");
        questions[0].ImagePath.Should().Be(Path.Combine(cache, "1.png"));
        questions.Should().OnlyContain(q => File.Exists(q.ImagePath));
        // Row 1000001's image cell is "1": the image of row 1.
        File.ReadAllBytes(questions[1].ImagePath!).Should().Equal(File.ReadAllBytes(questions[0].ImagePath!));
        File.ReadAllBytes(questions[4].ImagePath!).Should().NotEqual(File.ReadAllBytes(questions[0].ImagePath!));
        var written = File.GetLastWriteTimeUtc(questions[0].ImagePath!);
        _benchmark.ReadQuestions(dir).Should().HaveCount(questions.Count);
        File.GetLastWriteTimeUtc(questions[0].ImagePath!).Should().Be(written, "an image already in the cache is not written again");
    }

    [Fact]
    public void The_submission_has_the_convert_scripts_columns_and_predictions_as_tsv_and_xlsx()
    {
        var answers = AnswerFile.Read(Path.Combine(Fixtures, "answers.jsonl"));

        var (tsv, xlsx) = _benchmark.WriteSubmission(Fixtures, answers, Path.Combine(_dir.FullName, "out", "llava"));

        var columns = Expected.GetProperty("submission_columns").EnumerateArray().Select(c => c.GetString()!).ToList();
        var expected = Expected.GetProperty("submission_predictions").EnumerateObject().ToList();
        var lines = File.ReadAllLines(tsv);
        lines[0].Split('\t').Should().Equal(columns);
        var prediction = columns.IndexOf("prediction");
        // Fixture questions and predictions hold no tab or newline, so splitting the lines is enough here.
        var tsvPredictions = lines.Skip(1).Select(l => l.Split('\t')).ToDictionary(c => c[0], c => c[prediction]);
        foreach (var e in expected)
        {
            tsvPredictions[e.Name].Should().Be(e.Value.GetString() ?? "", e.Name);
        }

        using var zip = ZipFile.OpenRead(xlsx);
        zip.Entries.Select(e => e.FullName).Should().Contain(["[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet1.xml"]);
        using var sheet = zip.GetEntry("xl/worksheets/sheet1.xml")!.Open();
        XNamespace ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
        var rows = XDocument.Load(sheet).Descendants(ns + "row").ToList();
        rows.Should().HaveCount(expected.Count + 1);
        rows[0].Elements(ns + "c").Select(c => c.Value).Should().Equal(columns);
        var cells = rows.Skip(1).ToDictionary(
            r => r.Elements(ns + "c").First().Value,
            r => r.Elements(ns + "c").FirstOrDefault(c => c.Attribute("r")!.Value.StartsWith("G", StringComparison.Ordinal))?.Value);
        foreach (var e in expected)
        {
            // An empty answer is an empty cell to openpyxl; SynthVlm writes an empty inline string.
            (cells[e.Name] ?? "").Should().Be(e.Value.GetString() ?? "", e.Name);
        }
    }

    [Fact]
    public void A_folder_without_a_tsv_names_the_folder_and_the_layout()
    {
        var act = () => _benchmark.ReadQuestions(_dir.FullName).ToList();

        act.Should().Throw<BenchmarkFormatException>()
            .WithMessage($"{_dir.FullName}: expected a folder with one MMBench TSV*(no .tsv file).")
            .Which.Message.Should().NotContain("\n");
    }

    [Fact]
    public async Task A_tsv_without_the_answer_column_names_the_file_and_the_expected_columns()
    {
        var path = Path.Combine(_dir.FullName, "mmbench_dev_20230712.tsv");
        File.WriteAllText(path, "index\tquestion\thint\tA\tB\tcategory\timage\n1\tq\tnan\tx\ty\tocr\tAAAA\n");

        var act = () => _benchmark.ScoreAsync(new BenchmarkScoring(_dir.FullName, AnswerFile.FromAnswers("a.jsonl", [])));

        (await act.Should().ThrowAsync<BenchmarkFormatException>())
            .WithMessage($"{path}: expected MMBench TSV columns index, A, B, answer (missing answer; found index, question, hint, A, B, category, image).");
    }

    [Fact]
    public async Task A_row_with_more_cells_than_the_header_names_its_line()
    {
        var path = Path.Combine(_dir.FullName, "x.tsv");
        File.WriteAllText(path, "index\tA\tB\tanswer\n1\tx\ty\tA\n2\tx\ty\tB\textra\n");

        var act = () => _benchmark.ScoreAsync(new BenchmarkScoring(_dir.FullName, AnswerFile.FromAnswers("a.jsonl", [])));

        (await act.Should().ThrowAsync<BenchmarkFormatException>()).WithMessage($"{path}: expected *(line 3: expected 4 fields, saw 5).");
    }

    [Fact]
    public void The_registry_finds_mmbench() => BenchmarkRegistry.Get("MMBench").Should().BeOfType<MmBenchBenchmark>();

    [Fact]
    public void Answers_are_read_as_vlmevalkit_can_infer_reads_them()
    {
        foreach (var c in Expected.GetProperty("can_infer").EnumerateArray())
        {
            var answer = c.GetProperty("answer").GetString()!;
            var choices = c.GetProperty("choices").EnumerateArray().Select(p => new KeyValuePair<char, string>(p[0].GetString()![0], p[1].GetString()!)).ToList();
            var expected = c.GetProperty("expected").GetString();

            MultipleChoiceAnswer.Infer(answer, choices).Should().Be(expected?[0], $"can_infer({answer})");
        }
    }

    // Expected values are Python 3.11's str.lower(): İ becomes two characters, Σ at a word's end becomes ς.
    [Theory]
    [InlineData("ΣΑΣ ΣΑΣ.", "σας σας.")]
    [InlineData("Σ", "σ")]
    [InlineData("ΑΣ'Α", "ασ'α")]
    [InlineData("İI", "i\u0307i")]
    [InlineData("ΟΔΟΣ-ΟΔΟΣ", "οδος-οδος")]
    [InlineData("ǅ", "ǆ")]
    [InlineData("ΑΣ1", "ας1")]
    public void Lower_case_is_pythons(string text, string expected) => PythonText.Lower(text).Should().Be(expected);

    private string CopyTsv()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_dir.FullName, "bench")).FullName;
        File.Copy(Path.Combine(Fixtures, "mmbench_dev_20230712.tsv"), Path.Combine(dir, "mmbench_dev_20230712.tsv"));
        return dir;
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Delete(recursive: true);

    private sealed class ScriptedJudge(string repliesPath) : SynthVlm.ChatEndpoints.IChatModel
    {
        private readonly Dictionary<string, string[]> _replies = JsonSerializer.Deserialize<Dictionary<string, string[]>>(File.ReadAllText(repliesPath))!;
        private readonly Dictionary<string, int> _asked = [];

        public List<string> Prompts { get; } = [];

        public string ModelName => "scripted";

        public Task<SynthVlm.ChatEndpoints.ChatReply> CompleteAsync(SynthVlm.ChatEndpoints.ChatRequest request, CancellationToken cancellationToken = default)
        {
            var prompt = request.Messages.Single().Text;
            Prompts.Add(prompt);
            var answer = prompt[(prompt.LastIndexOf("\nAnswer: ", StringComparison.Ordinal) + 9)..prompt.LastIndexOf("\nYour output: ", StringComparison.Ordinal)];
            var n = _asked.GetValueOrDefault(answer);
            _asked[answer] = n + 1;
            var replies = _replies[answer];
            return Task.FromResult(new SynthVlm.ChatEndpoints.ChatReply(replies[Math.Min(n, replies.Length - 1)]));
        }
    }

    private sealed class FailingJudge : SynthVlm.ChatEndpoints.IChatModel
    {
        public int Calls { get; private set; }

        public string ModelName => "failing";

        public Task<SynthVlm.ChatEndpoints.ChatReply> CompleteAsync(SynthVlm.ChatEndpoints.ChatRequest request, CancellationToken cancellationToken = default)
        {
            Calls++;
            return Calls % 2 == 0
                ? throw new SynthVlm.ChatEndpoints.ChatModelException("failing: no route")
                : Task.FromResult(new SynthVlm.ChatEndpoints.ChatReply("I am not sure."));
        }
    }
}
