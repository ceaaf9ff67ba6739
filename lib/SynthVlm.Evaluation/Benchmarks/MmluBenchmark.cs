using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// MMLU as hendrycks/test defines it (<c>evaluate.py</c> and <c>evaluate_flan.py</c>, <c>categories.py</c>):
/// five-shot prompts from the dev split, accuracy per subject, per subcategory and category (pooled over their
/// questions, as <c>evaluate_flan.py</c> prints them), and "Average accuracy" pooled over every question.
/// </summary>
/// <remarks>
/// <para><b>Layout.</b> The official <c>data</c> folder: <c>dev/SUBJECT_dev.csv</c> and <c>test/SUBJECT_test.csv</c>,
/// CSV without a header, six columns (question, A, B, C, D, answer letter). The subjects are the names before
/// "_test.csv" of the test files, sorted ordinally.</para>
/// <para><b>Prompt.</b> <c>gen_prompt</c> + <c>format_example</c>: "The following are multiple choice questions (with
/// answers) about SUBJECT.\n\n" where SUBJECT is the subject's words each preceded by a space (quirk: so the text
/// has two spaces after "about"), then the first five dev rows as "question\nA. a\nB. b\nC. c\nD. d\nAnswer: X\n\n",
/// then the test row the same way ending in "\nAnswer:". Cells are printed as pandas reads them (quirk): a column
/// whose every value is an integer prints integers ("007" as "7"), one with a missing cell or a decimal prints
/// Python floats ("2" as "2.0"), a column of True/False words prints "True"/"False", a missing cell (empty, "NA",
/// "nan", "null", ... in pandas 1.5's list) prints "nan". The prompt is one text, <see cref="BenchmarkQuestion.Prompt"/>,
/// not <see cref="BenchmarkQuestion.Shots"/>: the official prompt is a single completion string whose shots are
/// not chat turns, so the exact text is kept and the runner wraps it as one user turn. The official code drops
/// shots while the prompt is longer than its model's context (2048 tokens); <see cref="Prompt"/> takes the number
/// of shots so that a runner with a tokenizer can do the same.</para>
/// <para><b>Scoring.</b> The official code takes the argmax of the A/B/C/D logits (the first on ties);
/// <see cref="ScoreLetterScores"/> does exactly that, and an answers line that carries the four scores
/// (<c>option_scores</c>, which <see cref="BenchmarkRunner"/> writes for a model that scores options: the in-process
/// LLaVA's next-token logits, an endpoint's logprobs) is read by the same argmax; the questions say so
/// (<see cref="BenchmarkQuestion.ScoredOptions"/>). A generated answer is read with
/// MMBench's rule (<see cref="MultipleChoiceAnswer.Infer"/> over the four printed options: a lone letter word,
/// "answer is X", or the one option whose text the answer contains; "(a)" is not read since a lower-case "a" is
/// the article); an answer that names no option, a missing answer and a question without a letter answer count
/// as wrong. A question missing from the scores also counts as wrong. Subcategories with no subject in the folder
/// are left out (the official script stops with an error there), and a subject missing from categories.py counts
/// only towards its own accuracy and the average (the official script stops there too). Fractions, not percents.</para>
/// <para><b>Variant "lmms-eval"</b> (<see cref="LmmsEvalVariant"/>; lmms_eval/tasks/mmlu/generative: generated answers,
/// the registered "exact_match" metric without options, aggregation mean per subject). A generated answer, stripped
/// (lmms-eval's task strips every generation), is right only when it <em>is</em> the right letter: "A" is right,
/// "a", "A.", "(A)" and "The answer is A" are wrong (numpy drops trailing NUL characters before comparing). Metrics:
/// "subjects" (each subject's exact_match) and "Average accuracy", the subjects pooled by size as lmms-eval's group
/// aggregation (<c>aggregate_subtask_metrics</c> with weight_by_size) computes it; quirk: lmms-eval's
/// mmlu_generative groups aggregate a metric named "acc", which the generative subjects do not produce, so lmms-eval
/// itself prints no group value. No subcategories or categories. A missing answer, and a test row without an answer
/// letter, count as wrong. (lmms-eval's default "mmlu" task is log-likelihood based: it picks the most likely of
/// " A".." D", as the official letter argmax does; <see cref="ScoreLetterScores"/> covers it.)</para>
/// </remarks>
public sealed partial class MmluBenchmark : IBenchmark
{
    /// <summary>How many dev examples the official prompt shows (<c>--ntrain</c> 5).</summary>
    public const int DefaultShots = 5;

    /// <summary>The variant that scores generated answers as lmms-eval's mmlu_generative tasks do.</summary>
    public const string LmmsEvalVariant = "lmms-eval";

    private const string Columns = "6 columns without a header: question, A, B, C, D, answer";

    private static readonly string[] Letters = ["A", "B", "C", "D"];

    // categories.py: subject → subcategories, and the categories' subcategories, in the file's order.
    private static readonly (string Subject, string Subcategory)[] SubjectSubcategories =
    [
        ("abstract_algebra", "math"), ("anatomy", "health"), ("astronomy", "physics"), ("business_ethics", "business"),
        ("clinical_knowledge", "health"), ("college_biology", "biology"), ("college_chemistry", "chemistry"),
        ("college_computer_science", "computer science"), ("college_mathematics", "math"), ("college_medicine", "health"),
        ("college_physics", "physics"), ("computer_security", "computer science"), ("conceptual_physics", "physics"),
        ("econometrics", "economics"), ("electrical_engineering", "engineering"), ("elementary_mathematics", "math"),
        ("formal_logic", "philosophy"), ("global_facts", "other"), ("high_school_biology", "biology"),
        ("high_school_chemistry", "chemistry"), ("high_school_computer_science", "computer science"),
        ("high_school_european_history", "history"), ("high_school_geography", "geography"),
        ("high_school_government_and_politics", "politics"), ("high_school_macroeconomics", "economics"),
        ("high_school_mathematics", "math"), ("high_school_microeconomics", "economics"), ("high_school_physics", "physics"),
        ("high_school_psychology", "psychology"), ("high_school_statistics", "math"), ("high_school_us_history", "history"),
        ("high_school_world_history", "history"), ("human_aging", "health"), ("human_sexuality", "culture"),
        ("international_law", "law"), ("jurisprudence", "law"), ("logical_fallacies", "philosophy"),
        ("machine_learning", "computer science"), ("management", "business"), ("marketing", "business"),
        ("medical_genetics", "health"), ("miscellaneous", "other"), ("moral_disputes", "philosophy"),
        ("moral_scenarios", "philosophy"), ("nutrition", "health"), ("philosophy", "philosophy"), ("prehistory", "history"),
        ("professional_accounting", "other"), ("professional_law", "law"), ("professional_medicine", "health"),
        ("professional_psychology", "psychology"), ("public_relations", "politics"), ("security_studies", "politics"),
        ("sociology", "culture"), ("us_foreign_policy", "politics"), ("virology", "health"), ("world_religions", "philosophy"),
    ];

    private static readonly (string Category, string[] Subcategories)[] Categories =
    [
        ("STEM", ["physics", "chemistry", "biology", "computer science", "math", "engineering"]),
        ("humanities", ["history", "philosophy", "law"]),
        ("social sciences", ["politics", "culture", "economics", "geography", "psychology"]),
        ("other (business, health, misc.)", ["other", "business", "health"]),
    ];

    /// <inheritdoc />
    public string Name => "mmlu";

    /// <inheritdoc />
    public string DisplayName => "MMLU";

    /// <inheritdoc />
    public IReadOnlyList<string> Variants => [LmmsEvalVariant];

    /// <inheritdoc />
    public string ExpectedLayout => $"hendrycks/test's data folder: dev/SUBJECT_dev.csv (at least {DefaultShots} rows) and test/SUBJECT_test.csv, each CSV with {Columns}";

    /// <summary>The subjects in the folder, sorted as the official script sorts them.</summary>
    /// <exception cref="BenchmarkFormatException">The folder has no test/ folder or no test file.</exception>
    public IReadOnlyList<string> Subjects(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var test = Path.Combine(Path.GetFullPath(directory), "test");
        if (!Directory.Exists(test))
        {
            throw BenchmarkFormatException.For(Path.GetFullPath(directory), ExpectedLayout, "no test/ folder");
        }
        var subjects = Directory.GetFiles(test)
            .Select(f => Path.GetFileName(f))
            .Where(f => f.Contains("_test.csv", StringComparison.Ordinal))
            .Select(f => f[..f.IndexOf("_test.csv", StringComparison.Ordinal)])
            .Order(StringComparer.Ordinal)
            .ToList();
        return subjects.Count > 0 ? subjects : throw BenchmarkFormatException.For(test, ExpectedLayout, "no *_test.csv file");
    }

    /// <inheritdoc />
    public IEnumerable<BenchmarkQuestion> ReadQuestions(string directory)
    {
        foreach (var subject in Subjects(directory))
        {
            var (dev, test) = ReadSubject(directory, subject);
            for (var i = 0; i < test.Rows.Count; i++)
            {
                yield return new BenchmarkQuestion(QuestionId(subject, i), BuildPrompt(subject, dev, test.Rows[i], DefaultShots), null, MaxNewTokens: 1)
                {
                    ScoredOptions = Letters,
                };
            }
        }
    }

    /// <summary>The question id of a subject's test row (0-based): "SUBJECT/ROW".</summary>
    public static string QuestionId(string subject, int row) => subject + "/" + row.ToString(CultureInfo.InvariantCulture);

    /// <summary>The official prompt for a subject's test row with <paramref name="shots"/> dev examples (fewer shots for a short context).</summary>
    /// <exception cref="BenchmarkFormatException">A file is missing or malformed.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The row or the number of shots is out of range.</exception>
    public string Prompt(string directory, string subject, int row, int shots = DefaultShots)
    {
        var (dev, test) = ReadSubject(directory, subject);
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, test.Rows.Count);
        ArgumentOutOfRangeException.ThrowIfNegative(shots);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(shots, dev.Rows.Count);
        return BuildPrompt(subject, dev, test.Rows[row], shots);
    }

    /// <inheritdoc />
    public Task<BenchmarkMetrics> ScoreAsync(BenchmarkScoring scoring, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scoring);
        var lmms = scoring.Variant switch
        {
            null => false,
            LmmsEvalVariant => true,
            _ => throw new ArgumentException($"mmlu has no variant '{scoring.Variant}'; known: {LmmsEvalVariant}.", nameof(scoring)),
        };
        if (lmms)
        {
            return Task.FromResult(ScoreLmmsEval(scoring));
        }
        var unread = 0;
        var missing = 0;
        var byScores = 0;
        var problems = new List<InputProblem>(scoring.Answers.Problems);
        var result = Score(scoring.Directory, (qid, test, row) =>
        {
            if (!scoring.Answers.ById.TryGetValue(qid, out var answer))
            {
                missing++;
                return null;
            }
            if (answer.Fields.ValueKind == JsonValueKind.Object && answer.Fields.TryGetProperty(BenchmarkRunner.OptionScoresField, out var scores))
            {
                if (scores.ValueKind != JsonValueKind.Array || scores.GetArrayLength() != Letters.Length || scores.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.Number))
                {
                    problems.Add(new InputProblem(scoring.Answers.Path, answer.Line, $"question {qid}: \"{BenchmarkRunner.OptionScoresField}\" must be {Letters.Length} numbers (A, B, C, D); found {scores.GetRawText()}"));
                    return null;
                }
                byScores++;
                return Letters[ArgMax([.. scores.EnumerateArray().Select(v => v.GetDouble())])];
            }
            var choices = Letters.Select((l, j) => new KeyValuePair<char, string>(l[0], test.Rows[row][j + 1])).ToList();
            var letter = MultipleChoiceAnswer.Infer(answer.Text, choices);
            if (letter is null or 'Z')
            {
                unread++;
                return null;
            }
            return letter.Value.ToString();
        }, problems);
        if (byScores > 0)
        {
            result.Notes.Add($"{byScores} answers were read from their A–D scores (\"{BenchmarkRunner.OptionScoresField}\": the argmax, as the official code).");
        }
        if (missing > 0)
        {
            result.Notes.Add($"{missing} questions had no answer and count as wrong.");
        }
        if (unread > 0)
        {
            result.Notes.Add($"{unread} answers named no option (MMBench's can_infer rule) and count as wrong.");
        }
        return Task.FromResult(result);
    }

    /// <summary>
    /// Scores per-question letter scores exactly as the official code does: the prediction is the argmax over the
    /// A, B, C, D scores (logits, log-probabilities or probabilities: any order-preserving score), the first on ties
    /// and the first NaN if any (numpy's argmax). A question missing from <paramref name="scores"/> counts as wrong;
    /// a score list that is not four long is reported and counts as wrong.
    /// </summary>
    /// <param name="directory">The data folder.</param>
    /// <param name="scores">By question id ("SUBJECT/ROW"), the scores of A, B, C, D.</param>
    public BenchmarkMetrics ScoreLetterScores(string directory, IReadOnlyDictionary<string, IReadOnlyList<double>> scores)
    {
        ArgumentNullException.ThrowIfNull(scores);
        var problems = new List<InputProblem>();
        var missing = 0;
        var result = Score(directory, (qid, _, _) =>
        {
            if (!scores.TryGetValue(qid, out var s))
            {
                missing++;
                return null;
            }
            if (s.Count != Letters.Length)
            {
                problems.Add(new InputProblem("letter scores", 0, $"question {qid}: expected {Letters.Length} scores (A, B, C, D), found {s.Count}"));
                return null;
            }
            return Letters[ArgMax(s)];
        }, problems);
        if (missing > 0)
        {
            result.Notes.Add($"{missing} questions had no letter scores and count as wrong.");
        }
        return result;
    }

    /// <summary>numpy's argmax: the index of the first maximum, or of the first NaN when there is one.</summary>
    public static int ArgMax(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentOutOfRangeException.ThrowIfZero(values.Count);
        var best = 0;
        for (var i = 0; i < values.Count; i++)
        {
            if (double.IsNaN(values[i]))
            {
                return i;
            }
            if (values[i] > values[best])
            {
                best = i;
            }
        }
        return best;
    }

    /// <summary>What lmms-eval's exact_match compares with the letter: the generation stripped, as a numpy string (trailing NULs dropped).</summary>
    internal static string ReadLmmsEval(string text) => PythonText.Strip(text).TrimEnd('\0');

    private BenchmarkMetrics ScoreLmmsEval(BenchmarkScoring scoring)
    {
        var missing = 0;
        var official = Score(scoring.Directory, (qid, _, _) =>
        {
            if (!scoring.Answers.ById.TryGetValue(qid, out var answer))
            {
                missing++;
                return null;
            }
            return ReadLmmsEval(answer.Text);
        }, scoring.Answers.Problems);
        var metrics = new JsonObject
        {
            ["Average accuracy"] = official.Metrics["Average accuracy"]!.DeepClone(),
            ["subjects"] = official.Metrics["subjects"]!.DeepClone(),
        };
        var result = new BenchmarkMetrics(Name, metrics, official.Scored - missing, official.Questions, official.Problems, LmmsEvalVariant);
        if (missing > 0)
        {
            result.Notes.Add($"{missing} questions had no answer and count as wrong.");
        }
        return result;
    }

    private BenchmarkMetrics Score(string directory, Func<string, PrintedTable, int, string?> predict, IReadOnlyList<InputProblem> problems)
    {
        var subjects = Subjects(directory);
        var perSubject = new List<(string Subject, int Right, int Count)>();
        var notes = new List<string>();
        foreach (var subject in subjects)
        {
            var (_, test) = ReadSubject(directory, subject);
            var right = 0;
            for (var i = 0; i < test.Rows.Count; i++)
            {
                var label = test.Rows[i][5];
                if (predict(QuestionId(subject, i), test, i) is { } letter && test.Raw[i][5] is not null && letter == label)
                {
                    right++;
                }
            }
            perSubject.Add((subject, right, test.Rows.Count));
        }
        var subcategoryOf = SubjectSubcategories.ToDictionary(p => p.Subject, p => p.Subcategory, StringComparer.Ordinal);
        var subcategories = new JsonObject();
        foreach (var subcategory in SubjectSubcategories.Select(p => p.Subcategory).Distinct(StringComparer.Ordinal))
        {
            var members = perSubject.Where(s => subcategoryOf.GetValueOrDefault(s.Subject) == subcategory).ToList();
            if (members.Count > 0)
            {
                subcategories[subcategory] = Ratio(members.Sum(m => m.Right), members.Sum(m => m.Count));
            }
        }
        var categories = new JsonObject();
        foreach (var (category, subs) in Categories)
        {
            var members = perSubject.Where(s => subcategoryOf.TryGetValue(s.Subject, out var sub) && subs.Contains(sub, StringComparer.Ordinal)).ToList();
            if (members.Count > 0)
            {
                categories[category] = Ratio(members.Sum(m => m.Right), members.Sum(m => m.Count));
            }
        }
        var unknown = perSubject.Where(s => !subcategoryOf.ContainsKey(s.Subject)).Select(s => s.Subject).ToList();
        if (unknown.Count > 0)
        {
            notes.Add($"Subjects not in categories.py count only towards their own accuracy and the average: {string.Join(", ", unknown)}.");
        }
        var subjectsJson = new JsonObject();
        foreach (var (subject, right, count) in perSubject)
        {
            subjectsJson[subject] = Ratio(right, count);
        }
        var total = perSubject.Sum(s => s.Count);
        var metrics = new JsonObject
        {
            ["Average accuracy"] = Ratio(perSubject.Sum(s => s.Right), total),
            ["subcategories"] = subcategories,
            ["categories"] = categories,
            ["subjects"] = subjectsJson,
        };
        var result = new BenchmarkMetrics(Name, metrics, total, total, problems);
        foreach (var n in notes)
        {
            result.Notes.Add(n);
        }
        return result;
    }

    private static double Ratio(int right, int count) => count == 0 ? double.NaN : (double)right / count;

    private static string BuildPrompt(string subject, PrintedTable dev, string[] row, int shots)
    {
        var builder = new StringBuilder("The following are multiple choice questions (with answers) about ");
        foreach (var word in subject.Split('_'))
        {
            builder.Append(' ').Append(word);
        }
        builder.Append(".\n\n");
        for (var i = 0; i < shots; i++)
        {
            Example(builder, dev.Rows[i], includeAnswer: true);
        }
        Example(builder, row, includeAnswer: false);
        return builder.ToString();
    }

    private static void Example(StringBuilder builder, string[] row, bool includeAnswer)
    {
        builder.Append(row[0]);
        for (var j = 0; j < Letters.Length; j++)
        {
            builder.Append('\n').Append(Letters[j]).Append(". ").Append(row[j + 1]);
        }
        builder.Append("\nAnswer:");
        if (includeAnswer)
        {
            builder.Append(' ').Append(row[5]).Append("\n\n");
        }
    }

    private (PrintedTable Dev, PrintedTable Test) ReadSubject(string directory, string subject)
    {
        var full = Path.GetFullPath(directory);
        var dev = ReadCsv(Path.Combine(full, "dev", subject + "_dev.csv"));
        if (dev.Rows.Count < DefaultShots)
        {
            throw BenchmarkFormatException.For(dev.Path, $"at least {DefaultShots} dev rows (the {DefaultShots} shots)", $"found {dev.Rows.Count}");
        }
        return (dev, ReadCsv(Path.Combine(full, "test", subject + "_test.csv")));
    }

    private PrintedTable ReadCsv(string path)
    {
        var table = MultipleChoiceTable.Read(path, ',', hasHeader: false, $"an MMLU CSV with {Columns}");
        if (table.Header.Count != 6)
        {
            throw BenchmarkFormatException.For(path, $"an MMLU CSV with {Columns}", $"line {table.Lines.FirstOrDefault(1)} has {table.Header.Count} fields");
        }
        return PrintedTable.From(table);
    }

    /// <summary>A CSV's cells as the official code prints them (pandas' column types, then Python's str).</summary>
    private sealed class PrintedTable
    {
        private PrintedTable(string path, List<string[]> rows, List<string?[]> raw)
        {
            Path = path;
            Rows = rows;
            Raw = raw;
        }

        public string Path { get; }

        public List<string[]> Rows { get; }

        public List<string?[]> Raw { get; }

        public static PrintedTable From(MultipleChoiceTable table)
        {
            var columns = table.Header.Count;
            var rows = table.Rows.Select(_ => new string[columns]).ToList();
            for (var c = 0; c < columns; c++)
            {
                var printed = PrintColumn([.. table.Rows.Select(r => r[c])]);
                for (var r = 0; r < rows.Count; r++)
                {
                    rows[r][c] = printed[r];
                }
            }
            return new PrintedTable(table.Path, rows, [.. table.Rows]);
        }
    }

    /// <summary>pandas 1.5 <c>read_csv</c>'s column type (bool, int64, float64 or object) printed with Python's <c>str</c>.</summary>
    internal static string[] PrintColumn(IReadOnlyList<string?> cells)
    {
        var present = cells.Where(c => c is not null).Select(c => c!).ToList();
        var hasMissing = present.Count < cells.Count;
        if (present.Count > 0 && present.All(IsBool))
        {
            return [.. cells.Select(c => c is null ? "nan" : IsTrue(c) ? "True" : "False")];
        }
        if (present.Count > 0 && present.All(c => IntegerText().IsMatch(c) && long.TryParse(c.Trim(AsciiSpace), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)))
        {
            return [.. cells.Select(c => c is null ? "nan"
                : hasMissing ? PythonText.FloatText(long.Parse(c.Trim(AsciiSpace), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture))
                : long.Parse(c.Trim(AsciiSpace), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture))];
        }
        if (present.All(c => ParseFloat(c) is not null))
        {
            return [.. cells.Select(c => c is null ? "nan" : PythonText.FloatText(ParseFloat(c)!.Value))];
        }
        return [.. cells.Select(c => c ?? "nan")];
    }

    private static readonly char[] AsciiSpace = [' ', '\t', '\n', '\v', '\f', '\r'];

    private static bool IsBool(string c) => c is "True" or "TRUE" or "true" or "False" or "FALSE" or "false";

    private static bool IsTrue(string c) => c is "True" or "TRUE" or "true";

    private static double? ParseFloat(string cell)
    {
        var c = cell.Trim(AsciiSpace);
        var unsigned = c.TrimStart('+', '-');
        if (unsigned.Length == c.Length - 1 && (string.Equals(unsigned, "inf", StringComparison.OrdinalIgnoreCase) || string.Equals(unsigned, "infinity", StringComparison.OrdinalIgnoreCase)) ||
            string.Equals(c, "inf", StringComparison.OrdinalIgnoreCase) || string.Equals(c, "infinity", StringComparison.OrdinalIgnoreCase))
        {
            return c.StartsWith('-') ? double.NegativeInfinity : double.PositiveInfinity;
        }
        return FloatText().IsMatch(c) ? double.Parse(c, NumberStyles.Float, CultureInfo.InvariantCulture) : null;
    }

    [GeneratedRegex(@"^[ \t\n\v\f\r]*[+-]?[0-9]+[ \t\n\v\f\r]*$")]
    private static partial Regex IntegerText();

    [GeneratedRegex(@"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")]
    private static partial Regex FloatText();
}
