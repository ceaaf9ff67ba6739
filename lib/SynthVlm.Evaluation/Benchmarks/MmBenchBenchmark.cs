using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// MMBench (dev, <c>mmbench_dev_20230712.tsv</c>, or any MMBench-style TSV) as LLaVA-1.5 runs it
/// (<c>llava/eval/model_vqa_mmbench.py</c> with <c>--single-pred-prompt</c>, as
/// <c>scripts/v1_5/eval/mmbench.sh</c> calls it) and as VLMEvalKit scores it with circular
/// evaluation and exact matching (<c>vlmeval/dataset/utils/multiple_choice.py</c>,
/// <c>mcq_circular_eval</c> and <c>report_acc</c>).
/// </summary>
/// <remarks>
/// <para><b>Questions.</b> One per TSV row (the TSV already holds the circular copies of a question as rows
/// whose index is the original's plus k·1,000,000). The prompt is the hint (when the cell is not missing,
/// "nan" or "none" in any case) and a newline, the question, "\nA. text" for each option A, B, C, D up to the
/// first missing one, and "\nAnswer with the option's letter from the given choices directly.". The image
/// token is the runner's. With <c>allRounds</c> (LLaVA's <c>--all-rounds</c>, which mmbench.sh does not pass)
/// each row is asked once per option with the option texts rotated by one each round under the same letters;
/// all rounds share the question id and carry <c>round_id</c>.</para>
/// <para><b>Images.</b> Each row's base64 <c>image</c> is decoded once to
/// <c>DIR/.cache/mmbench-images/TSVNAME/INDEX.EXT</c> (EXT from the image's magic bytes); an image cell of
/// at most 64 characters is the index of the row that holds the image (VLMEvalKit's TSVs share images so).</para>
/// <para><b>Scoring.</b> The official pipeline's steps: the answers become the submission that
/// <c>scripts/convert_mmbench_for_submission.py</c> writes (one prediction per TSV row: the last answer
/// whose <c>question_id</c> is the row's index, so with several rounds the last round wins; a row with no answer
/// gets no prediction); VLMEvalKit reads that file back with pandas, so a missing prediction and a prediction
/// that is exactly one of pandas 1.5's missing-value strings ("", "NA", "N/A", "null", "nan", ...; pandas 2 adds
/// "None") become the text <c>"nan"</c> (quirk: "nan" is then matched like any answer, so it names an option whose
/// text is contained in "nan", e.g. "Nan"). The TSV is read the same way: an option cell holding one of those strings
/// is no option (and LLaVA's prompt stops at it, and also at "Nan"/"NONE", which its own is_none rejects).
/// Each row's prediction goes through <see cref="MultipleChoiceAnswer.Infer"/> over its options (every column
/// A–Z with a value). A question (a row whose index is below 1,000,000 in the sense of
/// <c>index == int(index % 1e6)</c>) is right only when every row of its group (itself and the rows with that
/// remainder) reads as the row's <c>answer</c>. A row read as a wrong option (or Z) fails its question at once.
/// With no judge, a row whose option cannot be read makes its question wrong, which is what VLMEvalKit's
/// exact-matching mode (its default without an API key) does ("Failed in Prefetch, no GPT-based answer matching").
/// With a judge (<see cref="BenchmarkScoring.Judge"/>) the undecided questions go through VLMEvalKit's
/// <c>eval_circular_group</c>: each unread row in index order is put to the judge with <see cref="JudgePrompt"/>
/// (one user message, temperature 0), up to three times, until <see cref="MultipleChoiceAnswer.Infer"/> reads an
/// option or Z from its reply; a reply containing "Failed to obtain answer via API", or a
/// <see cref="ChatModelException"/>, is a failed ask. After three failed asks an option or Z is drawn at random, as
/// the official code does, but from a <see cref="Random"/> seeded with 0 (so it cannot equal Python's draw). The
/// first row read wrong ends its question. Metrics as <c>report_acc</c> names them: "Overall" (mean over questions), then
/// each <c>l2-category</c> (sorted, abbreviated as MMB_abbrs: CP, FP-S, FP-C, LR, RR, AR), then each
/// <c>category</c> (sorted), as fractions. When the TSV has a <c>split</c> column with several values the metrics
/// are nested under each split name.</para>
/// <para><b>Variant "lmms-eval"</b> (<see cref="LmmsEvalVariant"/>): lmms-eval's own circular evaluation, described on
/// <see cref="ScoreLmmsEvalAsync"/>; <b>"lmms-eval-static"</b> (<see cref="LmmsEvalStaticVariant"/>) the same without a judge, as
/// lmms-eval's <c>mmbench_en_dev_static</c> task.</para>
/// </remarks>
public sealed partial class MmBenchBenchmark : IBenchmark
{
    /// <summary>LLaVA's English instruction after the options (<c>--single-pred-prompt</c>).</summary>
    public const string Instruction = "Answer with the option's letter from the given choices directly.";

    private const string TsvName = "mmbench_dev_20230712.tsv";
    private const long CircularOffset = 1_000_000;
    private const int JudgeAttempts = 3;
    private const int JudgeFallbackSeed = 0;

    private const string JudgeTemplate =
        "You are an AI assistant who will help me to match an answer with several options of a single-choice question. " +
        "You are provided with a question, several options, and an answer, and you need to find which option is most similar to the answer. " +
        "If the meaning of all options are significantly different from the answer, output Z. " +
        "Your should output a single uppercase character in A, B, C, D (if they are valid options), and Z. \n" +
        "Example 1: \nQuestion: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\nAnswer: a cute teddy bear\nYour output: A\n" +
        "Example 2: \nQuestion: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\nAnswer: Spider\nYour output: Z\n" +
        "Example 3: \nQuestion: {0}?\nOptions: {1}\nAnswer: {2}\nYour output: ";

    private const string JudgeTemplateCn =
        "你是一个帮助我匹配答案与单选题中多个选项的 AI 助手。你会被提供：一个问题，多个选项，一个答案。你的任务是找到与答案意义最相近的选项。" +
        "如果所有选项的意义都与答案显著不同，则输出 Z。你应该输出一个单个的大写字母，例如 A, B, C, D（如果它们是有效选项），或 Z。" +
        "例 1:问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 一只可爱的泰迪熊\n输出: A\n" +
        "例 2: \n问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 蜘蛛\n输出: Z\n" +
        "例 3: \n问题: {0}?\n选项: {1}\n答案: {2}\n输出: ";

    private static readonly Dictionary<string, string> Abbreviations = new(StringComparer.Ordinal)
    {
        ["coarse_perception"] = "CP",
        ["finegrained_perception (instance-level)"] = "FP-S",
        ["finegrained_perception (cross-instance)"] = "FP-C",
        ["logic_reasoning"] = "LR",
        ["relation_reasoning"] = "RR",
        ["attribute_reasoning"] = "AR",
    };

    // Columns convert_mmbench_for_submission.py drops before writing the submission.
    private static readonly string[] SubmissionDropped = ["hint", "category", "source", "image", "comment", "l2-category"];

    /// <inheritdoc />
    public string Name => "mmbench";

    /// <inheritdoc />
    public string DisplayName => "MMBench";

    /// <inheritdoc />
    public IReadOnlyList<string> Variants => [LmmsEvalVariant, LmmsEvalStaticVariant];

    /// <inheritdoc />
    public string ExpectedLayout =>
        $"a folder with one MMBench TSV ({TsvName}, or the only *.tsv): tab-separated with a header row holding index, question, hint, A, B (C, D optional), answer, image (base64), and optionally category, l2-category, split";

    /// <inheritdoc />
    public IEnumerable<BenchmarkQuestion> ReadQuestions(string directory) => ReadQuestions(directory, allRounds: false);

    /// <summary>The questions; with <paramref name="allRounds"/> each row once per option, options rotated (LLaVA's <c>--all-rounds</c>).</summary>
    /// <exception cref="BenchmarkFormatException">The TSV is missing or lacks a column, an index or an image.</exception>
    public IReadOnlyList<BenchmarkQuestion> ReadQuestions(string directory, bool allRounds)
    {
        var table = ReadTable(directory, ["index", "question", "hint", "A", "B", "image"]);
        var index = table.Column("index");
        var image = table.Column("image");
        var cache = Path.Combine(Path.GetFullPath(directory), ".cache", "mmbench-images", Path.GetFileNameWithoutExtension(table.Path));
        Directory.CreateDirectory(cache);
        var imageByIndex = new Dictionary<string, string?>(StringComparer.Ordinal);
        for (var r = 0; r < table.Rows.Count; r++)
        {
            imageByIndex[table.Rows[r][index] ?? ""] = table.Rows[r][image];
        }
        var questions = new List<BenchmarkQuestion>();
        for (var r = 0; r < table.Rows.Count; r++)
        {
            var row = table.Rows[r];
            var id = IndexOf(table, r).ToString(CultureInfo.InvariantCulture);
            var imagePath = DecodeImage(table, r, row[image], imageByIndex, cache, id);
            var options = LlavaOptions(table, row);
            var rounds = allRounds ? options.Count : 1;
            for (var round = 0; round < rounds; round++)
            {
                questions.Add(new BenchmarkQuestion(id, LlavaPrompt(Cell(table, row, "hint"), Cell(table, row, "question") ?? "nan", options), imagePath)
                {
                    AnswerFields = new Dictionary<string, string> { ["round_id"] = round.ToString(CultureInfo.InvariantCulture) },
                });
                options = [.. options.Skip(1), .. options.Take(1)];
            }
        }
        return questions;
    }

    /// <summary>
    /// LLaVA's prompt text for one row: the hint (unless missing, "nan" or "none" in any case) and a newline, the
    /// question, "\nL. option" for each option in order, and "\n" + <see cref="Instruction"/>.
    /// </summary>
    public static string LlavaPrompt(string? hint, string question, IReadOnlyList<string> options)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(options);
        var text = IsNone(hint) ? question : hint + "\n" + question;
        for (var i = 0; i < options.Count; i++)
        {
            text += "\n" + (char)('A' + i) + ". " + options[i];
        }
        return text + "\n" + Instruction;
    }

    /// <inheritdoc />
    public Task<BenchmarkMetrics> ScoreAsync(BenchmarkScoring scoring, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scoring);
        return scoring.Variant switch
        {
            null => ScoreCoreAsync(scoring.Directory, scoring.Answers, scoring.Judge, cancellationToken),
            LmmsEvalVariant => ScoreLmmsEvalAsync(scoring.Directory, scoring.Answers, scoring.Judge, staticOnly: false, cancellationToken),
            LmmsEvalStaticVariant => ScoreLmmsEvalAsync(scoring.Directory, scoring.Answers, judge: null, staticOnly: true, cancellationToken),
            _ => throw new ArgumentException($"mmbench has no variant '{scoring.Variant}'; known: {LmmsEvalVariant}, {LmmsEvalStaticVariant}.", nameof(scoring)),
        };
    }

    /// <summary>
    /// Writes the submission that LLaVA's <c>convert_mmbench_for_submission.py</c> writes: the TSV's columns less
    /// hint, category, source, image, comment and l2-category (those present), with a <c>prediction</c> column
    /// inserted as the seventh column (the last answer for the row's index; empty when there is none). Writes
    /// <paramref name="stem"/>.tsv (pandas-style quoting) and <paramref name="stem"/>.xlsx (one sheet "Sheet1",
    /// header row, integers as numbers, everything else as text). Returns both paths.
    /// </summary>
    public (string Tsv, string Xlsx) WriteSubmission(string directory, AnswerFile answers, string stem)
    {
        ArgumentNullException.ThrowIfNull(answers);
        ArgumentException.ThrowIfNullOrEmpty(stem);
        var table = ReadTable(directory, ["index"]);
        var keep = Enumerable.Range(0, table.Header.Count).Where(c => !SubmissionDropped.Contains(table.Header[c], StringComparer.Ordinal)).ToList();
        var header = keep.Select(c => table.Header[c]).ToList();
        var at = Math.Min(6, header.Count);
        header.Insert(at, "prediction");
        var predictions = Predictions(table, answers, out _);
        var rows = new List<MmBenchSubmissionCell[]>();
        for (var r = 0; r < table.Rows.Count; r++)
        {
            var cells = keep.Select(c => Cell(table.Header[c], table.Rows[r][c])).ToList();
            cells.Insert(at, new MmBenchSubmissionCell(predictions[r], false));
            rows.Add([.. cells]);
        }
        var tsv = stem + ".tsv";
        var xlsx = stem + ".xlsx";
        var dir = Path.GetDirectoryName(Path.GetFullPath(tsv));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }
        MmBenchSubmission.WriteTsv(tsv, header, rows);
        MmBenchSubmission.WriteXlsx(xlsx, header, rows);
        return (tsv, xlsx);

        static MmBenchSubmissionCell Cell(string column, string? value) =>
            column == "index" && long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
                ? new(n.ToString(CultureInfo.InvariantCulture), true)
                : new(value, false);
    }

    private async Task<BenchmarkMetrics> ScoreCoreAsync(string directory, AnswerFile answers, IChatModel? judge, CancellationToken cancellationToken)
    {
        var table = ReadTable(directory, ["index", "A", "B", "answer"]);
        var indices = Enumerable.Range(0, table.Rows.Count).Select(r => IndexOf(table, r)).ToList();
        var predictions = Predictions(table, answers, out var unknown);
        var problems = new List<InputProblem>(answers.Problems);
        problems.AddRange(unknown.Select(a => new InputProblem(answers.Path, a.Line, $"question {a.QuestionId} is not an index of {table.Path}; ignored, as the official convert script ignores it")));

        var circular = await CircularHitsAsync(table, indices, predictions, judge, cancellationToken).ConfigureAwait(false);
        var (mains, hits, unread) = (circular.Mains, circular.Hits, circular.Unread);

        var metrics = Report(table, mains, m => hits[indices[m]]);
        var result = new BenchmarkMetrics(Name, metrics, mains.Count, mains.Count, problems);
        var missing = predictions.Count(p => p is null);
        if (missing > 0)
        {
            result.Notes.Add($"{missing} of {table.Rows.Count} TSV rows had no answer; their prediction is \"nan\" as the official read-back makes it, so their question counts as wrong (unless \"nan\" is in an option's text).");
        }
        if (unread > 0 && judge is null)
        {
            result.Notes.Add($"{unread} predictions named no option; with no judge (VLMEvalKit's exact matching) their question counts as wrong.");
        }
        if (judge is not null)
        {
            result.Notes.Add($"{unread} predictions named no option; the judge {judge.ModelName} was asked {circular.JudgeCalls} times (questions already decided are not asked about){(circular.RandomChoices > 0 ? $", and {circular.RandomChoices} times no option could be read from its replies, so an option or Z was drawn at random (seeded)" : "")}.");
        }
        if (answers.Duplicates > 0)
        {
            result.Notes.Add($"{answers.Duplicates} answers were replaced by a later answer to the same index (the convert script keeps the last; with --all-rounds that is the last round).");
        }
        return result;
    }

    /// <summary>Each question's circular result (index of the question's first row → every copy read right), for tests.</summary>
    internal IReadOnlyDictionary<long, bool> CircularHits(string directory, AnswerFile answers, IChatModel? judge = null)
    {
        var table = ReadTable(directory, ["index", "A", "B", "answer"]);
        var indices = Enumerable.Range(0, table.Rows.Count).Select(r => IndexOf(table, r)).ToList();
        return CircularHitsAsync(table, indices, Predictions(table, answers, out _), judge, CancellationToken.None).GetAwaiter().GetResult().Hits;
    }

    private static async Task<Circular> CircularHitsAsync(MultipleChoiceTable table, List<long> indices, List<string?> predictions, IChatModel? judge, CancellationToken cancellationToken)
    {
        var answer = table.Column("answer");
        var groups = new Dictionary<long, List<int>>();
        for (var r = 0; r < table.Rows.Count; r++)
        {
            var g = PythonRemainder(indices[r]);
            if (!groups.TryGetValue(g, out var list))
            {
                groups[g] = list = [];
            }
            list.Add(r);
        }
        var mains = Enumerable.Range(0, table.Rows.Count).Where(r => PythonRemainder(indices[r]) == indices[r]).OrderBy(r => indices[r]).ToList();
        var result = new Circular(mains);
        var random = new Random(JudgeFallbackSeed);
        foreach (var m in mains)
        {
            // The group in index order, as the official code sorts the predictions by index.
            var rows = groups[indices[m]].OrderBy(r => indices[r]).ToList();
            var truth = rows.Select(r => table.Rows[r][answer]).ToList();
            // Rows read as the official pipeline reads the submission back: missing predictions become "nan".
            var texts = rows.Select(r => predictions[r] is { } p && !MultipleChoiceTable.PandasNaStrings.Contains(p) ? p : "nan").ToList();
            var read = rows.Select((r, i) => MultipleChoiceAnswer.Infer(texts[i], Choices(table, table.Rows[r]))).ToList();
            result.Unread += read.Count(x => x is null);
            bool hit;
            if (read.Where((x, i) => x is { } letter && letter.ToString() != truth[i]).Any())
            {
                hit = false;
            }
            else if (read.All(x => x is not null))
            {
                hit = true;
            }
            else if (judge is null)
            {
                hit = false;
            }
            else
            {
                hit = true;
                for (var i = 0; i < rows.Count && hit; i++)
                {
                    if (read[i] is null)
                    {
                        var option = await ExtractAsync(judge, table, table.Rows[rows[i]], texts[i], random, result, cancellationToken).ConfigureAwait(false);
                        hit = option.ToString() == truth[i];
                    }
                }
            }
            result.Hits[indices[m]] = hit;
        }
        return result;
    }

    /// <summary>VLMEvalKit's <c>extract_answer_from_item</c> with a judge: up to three asks, then a random option or Z.</summary>
    private static async Task<char> ExtractAsync(IChatModel judge, MultipleChoiceTable table, string?[] row, string prediction, Random random, Circular result, CancellationToken cancellationToken)
    {
        var choices = Choices(table, row);
        var prompt = JudgePrompt(Cell(table, row, "question") ?? "nan", choices, prediction);
        for (var attempt = 0; attempt < JudgeAttempts; attempt++)
        {
            string reply;
            try
            {
                result.JudgeCalls++;
                reply = (await judge.CompleteAsync(new ChatRequest([ChatMessage.User(prompt)]), cancellationToken).ConfigureAwait(false)).Text;
            }
            catch (ChatModelException e)
            {
                reply = "Failed to obtain answer via API: " + e.Message;
            }
            if (!reply.Contains("Failed to obtain answer via API", StringComparison.Ordinal) && MultipleChoiceAnswer.Infer(reply, choices) is { } option)
            {
                return option;
            }
        }
        result.RandomChoices++;
        var options = choices.Select(c => c.Key).Append('Z').ToList();
        return options[random.Next(options.Count)];
    }

    /// <summary>
    /// The judge's prompt, VLMEvalKit's <c>build_prompt</c> (or <c>build_prompt_cn</c> when the question has a
    /// CJK ideograph, U+4E00–U+9FFF): two worked examples, then "Question: QUESTION?" (quirk: a question that
    /// ends in "?" gets a second one), "Options: There are several options: \nA. text\n..." and the answer.
    /// </summary>
    public static string JudgePrompt(string question, IReadOnlyList<KeyValuePair<char, string>> choices, string prediction)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(choices);
        var options = new StringBuilder("There are several options: \n");
        foreach (var (letter, text) in choices)
        {
            options.Append(letter).Append(". ").Append(text).Append('\n');
        }
        var chinese = question.Any(c => c is >= '\u4e00' and <= '\u9fff');
        return chinese
            ? string.Format(CultureInfo.InvariantCulture, JudgeTemplateCn, question, options, prediction)
            : string.Format(CultureInfo.InvariantCulture, JudgeTemplate, question, options, prediction);
    }

    private sealed class Circular(List<int> mains)
    {
        public List<int> Mains { get; } = mains;

        public Dictionary<long, bool> Hits { get; } = [];

        public int Unread { get; set; }

        public int JudgeCalls { get; set; }

        public int RandomChoices { get; set; }
    }

    private static JsonObject Report(MultipleChoiceTable table, List<int> mains, Func<int, bool> hit)
    {
        var split = table.Column("split");
        var splits = split < 0 ? [] : mains.Select(m => table.Rows[m][split] ?? "nan").Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (splits.Count <= 1)
        {
            return ReportOne(table, mains, hit);
        }
        var nested = new JsonObject();
        foreach (var s in splits)
        {
            nested[s] = ReportOne(table, [.. mains.Where(m => (table.Rows[m][split] ?? "nan") == s)], hit);
        }
        return nested;
    }

    private static JsonObject ReportOne(MultipleChoiceTable table, List<int> mains, Func<int, bool> hit)
    {
        var metrics = new JsonObject { ["Overall"] = Mean(mains, hit) };
        foreach (var group in (string[])["l2-category", "category"])
        {
            var column = table.Column(group);
            if (column < 0)
            {
                continue;
            }
            foreach (var ability in mains.Select(m => table.Rows[m][column] ?? "nan").Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
            {
                var name = Abbreviations.TryGetValue(ability, out var a) ? a : ability;
                metrics[name] = Mean([.. mains.Where(m => (table.Rows[m][column] ?? "nan") == ability)], hit);
            }
        }
        return metrics;
    }

    private static double Mean(List<int> rows, Func<int, bool> hit) =>
        rows.Count == 0 ? double.NaN : (double)rows.Count(hit) / rows.Count;

    private static long PythonRemainder(long index)
    {
        // int(x % 1e6): Python's float modulo takes the sign of the divisor.
        var r = index % CircularOffset;
        return r < 0 ? r + CircularOffset : r;
    }

    private static List<string?> Predictions(MultipleChoiceTable table, AnswerFile answers, out List<ModelAnswer> unknown)
    {
        var rowsByIndex = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (var r = 0; r < table.Rows.Count; r++)
        {
            var key = IndexOf(table, r).ToString(CultureInfo.InvariantCulture);
            if (!rowsByIndex.TryGetValue(key, out var list))
            {
                rowsByIndex[key] = list = [];
            }
            list.Add(r);
        }
        var predictions = new string?[table.Rows.Count];
        unknown = [];
        foreach (var a in answers.All)
        {
            var key = long.TryParse(a.QuestionId, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? n.ToString(CultureInfo.InvariantCulture) : a.QuestionId;
            if (rowsByIndex.TryGetValue(key, out var rows))
            {
                foreach (var r in rows)
                {
                    predictions[r] = a.Text;
                }
            }
            else
            {
                unknown.Add(a);
            }
        }
        return [.. predictions];
    }

    private static List<KeyValuePair<char, string>> Choices(MultipleChoiceTable table, string?[] row)
    {
        var choices = new List<KeyValuePair<char, string>>();
        for (var letter = 'A'; letter <= 'Z'; letter++)
        {
            var c = table.Column(letter.ToString());
            if (c >= 0 && row[c] is { } text)
            {
                choices.Add(new(letter, text));
            }
        }
        return choices;
    }

    private static List<string> LlavaOptions(MultipleChoiceTable table, string?[] row)
    {
        var options = new List<string>();
        foreach (var letter in (string[])["A", "B", "C", "D"])
        {
            var c = table.Column(letter);
            var value = c >= 0 ? row[c] : null;
            if (IsNone(value))
            {
                break;
            }
            options.Add(value!);
        }
        return options;
    }

    private static bool IsNone(string? value) =>
        value is null || string.Equals(value, "nan", StringComparison.OrdinalIgnoreCase) || string.Equals(value, "none", StringComparison.OrdinalIgnoreCase);

    private static string? Cell(MultipleChoiceTable table, string?[] row, string column)
    {
        var c = table.Column(column);
        return c >= 0 ? row[c] : null;
    }

    private static long IndexOf(MultipleChoiceTable table, int r)
    {
        var text = table.Rows[r][table.Column("index")];
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
        {
            return n;
        }
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d == Math.Floor(d) && Math.Abs(d) < 9e15)
        {
            return (long)d;
        }
        throw BenchmarkFormatException.For(table.Path, "an integer in the index column", $"line {table.Lines[r]}: found '{text ?? "(empty)"}'");
    }

    private MultipleChoiceTable ReadTable(string directory, string[] required)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var path = FindTsv(directory);
        var table = MultipleChoiceTable.Read(path, '\t', hasHeader: true, ExpectedLayout);
        var missing = required.Where(c => table.Column(c) < 0).ToList();
        if (missing.Count > 0)
        {
            throw BenchmarkFormatException.For(path, $"MMBench TSV columns {string.Join(", ", required)}", $"missing {string.Join(", ", missing)}; found {string.Join(", ", table.Header)}");
        }
        var seen = new HashSet<long>();
        for (var r = 0; r < table.Rows.Count; r++)
        {
            if (!seen.Add(IndexOf(table, r)))
            {
                throw BenchmarkFormatException.For(path, "each index once", $"line {table.Lines[r]}: index {IndexOf(table, r)} repeats");
            }
        }
        return table;
    }

    private string FindTsv(string directory)
    {
        var full = Path.GetFullPath(directory);
        if (!Directory.Exists(full))
        {
            throw BenchmarkFormatException.For(full, ExpectedLayout, "the folder does not exist");
        }
        var named = Path.Combine(full, TsvName);
        if (File.Exists(named))
        {
            return named;
        }
        var tsvs = Directory.GetFiles(full, "*.tsv");
        return tsvs.Length == 1
            ? tsvs[0]
            : throw BenchmarkFormatException.For(full, ExpectedLayout, tsvs.Length == 0 ? "no .tsv file" : $"{tsvs.Length} .tsv files and none is {TsvName}");
    }

    private static string DecodeImage(MultipleChoiceTable table, int r, string? cell, Dictionary<string, string?> imageByIndex, string cache, string id)
    {
        var data = cell;
        if (data is not null && data.Length <= 64 && imageByIndex.TryGetValue(data, out var shared))
        {
            data = shared;
        }
        if (data is null || data.Length <= 64)
        {
            throw BenchmarkFormatException.For(table.Path, "a base64 image (or the index of a row holding one) in the image column", $"line {table.Lines[r]}, index {id}: found '{cell ?? "(empty)"}'");
        }
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(data);
        }
        catch (FormatException)
        {
            throw BenchmarkFormatException.For(table.Path, "a base64 image in the image column", $"line {table.Lines[r]}, index {id}: not base64");
        }
        var path = Path.Combine(cache, id + ImageExtension(bytes));
        if (!File.Exists(path) || new FileInfo(path).Length != bytes.Length)
        {
            var temp = path + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + ".tmp";
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, path, overwrite: true);
        }
        return path;
    }

    private static string ImageExtension(byte[] b) => b switch
    {
        [0xFF, 0xD8, ..] => ".jpg",
        [0x89, 0x50, 0x4E, 0x47, ..] => ".png",
        [0x47, 0x49, 0x46, ..] => ".gif",
        [0x42, 0x4D, ..] => ".bmp",
        [0x52, 0x49, 0x46, 0x46, _, _, _, _, 0x57, 0x45, 0x42, 0x50, ..] => ".webp",
        _ => ".bin",
    };
}
