using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// MM-Vet (yuweihao/MM-Vet, <c>mm-vet_evaluator.py</c> at commit acde843): each answer graded
/// 0.0–1.0 by an LLM (<see cref="MmVetGrader"/>), then the per-capability and
/// per-capability-combination scores and the total, as the official evaluator computes them.
/// </summary>
/// <remarks>
/// <para>
/// Answers: LLaVA's <c>model_vqa</c> JSONL (integer <c>question_id</c> N, which LLaVA's
/// <c>convert_mmvet_for_eval.py</c> turns into the MM-Vet id <c>v1_N</c>; an id that is not all
/// digits is taken as an MM-Vet id as it is) or, through <see cref="ReadResults"/>, the converted
/// results JSON the official evaluator reads. A question answered twice keeps its last answer
/// (the converter's dictionary). Answers to ids MM-Vet does not have are ignored (noted).
/// A question without an answer stops the official script (KeyError); here it is not sent to the
/// grader and scores 0.0 in every run, still counted in every denominator (the official
/// denominators count the metadata's questions), and the result says how many.
/// </para>
/// <para>
/// Aggregation, per run r: a capability's score is 100 × (sum of the grades of the questions
/// having it) / (questions having it); a combination's likewise over questions with exactly that
/// capability set; "total" over all questions. Reported: the mean over runs rounded with NumPy's
/// <c>round</c> (<see cref="DecimalPlaces"/>, default 1), "std" = NumPy's population std of the
/// per-run totals, rounded, and "runs" = the per-run totals, rounded. Metrics also carry the same
/// tables unrounded under "unrounded". A NaN grade (the grader said "nan", which the official parse
/// accepts) makes every sum it enters NaN, as there; NaN is written as JSON null, with a note.
/// </para>
/// <para>
/// Combination names: the official script joins a Python set, whose order changes with string
/// hashing between processes (PYTHONHASHSEED), so "ocr_math" may print as "math_ocr". Here names
/// always list capabilities in the order rec, ocr, know, gen, spat, math (the paper's columns),
/// others after them alphabetically.
/// </para>
/// <para>
/// Several runs (<see cref="Runs"/>; the paper uses 5): the official script sends run r's requests
/// exactly like run 0's and relies on the API's nondeterminism. Since temperature-0 replies are
/// cached (<see cref="OpenAiChatClient"/>), run r ≥ 1 sends seed r, so that each run is its own
/// cached draw and a re-run reproduces every run. Run 0 is the official request, without a seed.
/// </para>
/// <para>Variant "bard_set": only the questions listed in <c>bard_set.json</c> (the script's <c>--use_sub_set</c>).</para>
/// <para>Variant "lmms-eval" (<see cref="LmmsEvalVariant"/>): lmms-eval's grader loop and aggregation, <see cref="MmVetLmmsEvalGrader"/>;
/// all questions, one run (<see cref="Runs"/> and <see cref="DecimalPlaces"/> do not apply); a question without an
/// answer is graded with the empty prediction, since lmms-eval generates for every doc.</para>
/// </remarks>
public sealed class MmVetBenchmark : IBenchmark
{
    /// <summary>The variant limited to <c>bard_set.json</c>'s questions.</summary>
    public const string BardSetVariant = "bard_set";

    /// <summary>The variant graded and aggregated as lmms-eval does (<see cref="MmVetLmmsEvalGrader"/>): all questions, one run.</summary>
    public const string LmmsEvalVariant = "lmms-eval";

    /// <summary>LLaVA's question file in the benchmark folder.</summary>
    public const string QuestionFileName = "llava-mm-vet.jsonl";

    /// <summary>The order capabilities take in combination names (MM-Vet's paper columns).</summary>
    public static IReadOnlyList<string> CapabilityOrder => Order;

    private static readonly string[] Order = ["rec", "ocr", "know", "gen", "spat", "math"];

    /// <inheritdoc />
    public string Name => "mmvet";

    /// <inheritdoc />
    public string DisplayName => "MM-Vet";

    /// <inheritdoc />
    public IReadOnlyList<string> Variants => [BardSetVariant, LmmsEvalVariant];

    /// <inheritdoc />
    public string ExpectedLayout =>
        "mm-vet.json (id → {imagename, capability, question, answer}), images/ (the images), optionally llava-mm-vet.jsonl (LLaVA's question file) and bard_set.json (the bard_set variant)";

    /// <summary>Grading runs (official default 1; the paper's 5).</summary>
    public int Runs { get; init; } = 1;

    /// <summary>Decimal places of the reported scores (official default 1).</summary>
    public int DecimalPlaces { get; init; } = 1;

    /// <summary>Questions graded at the same time (the grader client bounds its own requests too).</summary>
    public int GradingParallelism { get; init; } = 8;

    /// <summary>A combination's name (see the class remarks).</summary>
    public static string CombinationName(IEnumerable<string> capabilities)
    {
        ArgumentNullException.ThrowIfNull(capabilities);
        return string.Join('_', capabilities.Distinct(StringComparer.Ordinal)
            .OrderBy(c => Array.IndexOf(Order, c) is var i and >= 0 ? i : Order.Length)
            .ThenBy(c => c, StringComparer.Ordinal));
    }

    /// <summary>Reads the converted results JSON the official evaluator takes (<c>{"v1_0": "answer", …}</c>) as an answers file.</summary>
    /// <exception cref="BenchmarkFormatException">The file is not a JSON object of strings.</exception>
    public static AnswerFile ReadResults(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        const string Expected = "MM-Vet results: a JSON object of MM-Vet id → answer text";
        if (!File.Exists(full))
        {
            throw BenchmarkFormatException.For(full, Expected, "file not found");
        }
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(full));
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw BenchmarkFormatException.For(full, Expected, $"found a JSON {document.RootElement.ValueKind}");
            }
            var answers = new List<ModelAnswer>();
            var line = 0;
            foreach (var property in document.RootElement.EnumerateObject())
            {
                line++;
                if (property.Value.ValueKind != JsonValueKind.String)
                {
                    throw BenchmarkFormatException.For(full, Expected, $"{property.Name}: found a {property.Value.ValueKind}");
                }
                using var fields = JsonDocument.Parse(new JsonObject { ["question_id"] = property.Name, ["text"] = property.Value.GetString() }.ToJsonString());
                answers.Add(new ModelAnswer(property.Name, property.Value.GetString()!, line, fields.RootElement.Clone()));
            }
            return AnswerFile.FromAnswers(full, answers);
        }
        catch (JsonException e)
        {
            throw BenchmarkFormatException.For(full, Expected, $"not JSON: {e.Message}");
        }
    }

    /// <summary>The MM-Vet id an answer's question id stands for: "N" → "v1_N" (LLaVA's converter), others unchanged.</summary>
    public static string MmVetId(string questionId)
    {
        ArgumentNullException.ThrowIfNull(questionId);
        return questionId.Length > 0 && questionId.All(char.IsAsciiDigit) ? "v1_" + questionId : questionId;
    }

    /// <summary>The questions (folder's metadata), or the variant's subset.</summary>
    /// <exception cref="BenchmarkFormatException">mm-vet.json (or bard_set.json) is missing or malformed.</exception>
    public static IReadOnlyList<MmVetItem> ReadMetadata(string directory, string? variant = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        return MmVetMetadata.Read(directory, CheckVariant(variant));
    }

    /// <inheritdoc />
    public IEnumerable<BenchmarkQuestion> ReadQuestions(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var images = Path.Combine(directory, "images");
        var file = Path.GetFullPath(Path.Combine(directory, QuestionFileName));
        if (!File.Exists(file))
        {
            // Without LLaVA's file, the metadata's questions in its order, with the MM-Vet ids.
            return ReadMetadata(directory).Select(i => new BenchmarkQuestion(i.Id, i.Question, Path.Combine(images, i.ImageName), MaxNewTokens)).ToList();
        }
        const string Expected = "LLaVA's MM-Vet question file: JSONL of {\"question_id\", \"image\", \"text\"}";
        var questions = new List<BenchmarkQuestion>();
        var number = 0;
        foreach (var line in File.ReadLines(file))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            try
            {
                using var document = JsonDocument.Parse(line);
                var root = document.RootElement;
                var id = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("question_id", out var q) ? AnswerFile.IdText(q) : null;
                if (id is null
                    || !root.TryGetProperty("image", out var image) || image.ValueKind != JsonValueKind.String
                    || !root.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                {
                    throw BenchmarkFormatException.For(file, Expected, string.Create(CultureInfo.InvariantCulture, $"line {number}: missing question_id, image or text"));
                }
                questions.Add(new BenchmarkQuestion(id, text.GetString()!, Path.Combine(images, image.GetString()!), MaxNewTokens));
            }
            catch (JsonException e)
            {
                throw BenchmarkFormatException.For(file, Expected, string.Create(CultureInfo.InvariantCulture, $"line {number}: not JSON: {e.Message}"));
            }
        }
        return questions;
    }

    /// <summary>Grades every question (every run); the key is the MM-Vet id, the list has one grade per run.</summary>
    /// <exception cref="ArgumentException">No judge, an unknown variant, or the lmms-eval variant (graded by <see cref="ScoreAsync"/>).</exception>
    /// <exception cref="ChatModelException">The grader failed on a question (named).</exception>
    public async Task<IReadOnlyDictionary<string, IReadOnlyList<MmVetGrade>>> GradeAsync(BenchmarkScoring scoring, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scoring);
        var grader = scoring.Judge ?? throw new ArgumentException("MM-Vet needs a grader: give BenchmarkScoring.Judge (the official grader is gpt-4-0613).", nameof(scoring));
        if (scoring.Variant == LmmsEvalVariant)
        {
            throw new ArgumentException($"{nameof(GradeAsync)} grades as the official evaluator does; the {LmmsEvalVariant} variant is graded by {nameof(ScoreAsync)} (its grades are in the metrics' \"grades\").", nameof(scoring));
        }
        if (Runs < 1 || GradingParallelism < 1)
        {
            throw new ArgumentException($"{nameof(Runs)} and {nameof(GradingParallelism)} must be at least 1.", nameof(scoring));
        }
        var items = ReadMetadata(scoring.Directory, scoring.Variant);
        var answers = Answers(scoring.Answers);
        var grades = items.ToDictionary(i => i.Id, _ => new MmVetGrade[Runs], StringComparer.Ordinal);
        for (var run = 0; run < Runs; run++)
        {
            int? seed = run == 0 ? null : run;
            var r = run;
            await Parallel.ForEachAsync(items, new ParallelOptions { MaxDegreeOfParallelism = GradingParallelism, CancellationToken = cancellationToken }, async (item, token) =>
            {
                if (!answers.TryGetValue(item.Id, out var prediction))
                {
                    grades[item.Id][r] = new MmVetGrade(0.0, string.Empty, 0, GaveUp: false, Answered: false);
                    return;
                }
                try
                {
                    grades[item.Id][r] = await MmVetGrader.GradeAsync(grader, item.Question, item.Answer, prediction, seed, token).ConfigureAwait(false);
                }
                catch (ChatModelException e)
                {
                    throw new ChatModelException(string.Create(CultureInfo.InvariantCulture, $"MM-Vet question {item.Id} (run {r}): grader {grader.ModelName} failed: {e.Message}"), e);
                }
            }).ConfigureAwait(false);
        }
        return grades.ToDictionary(p => p.Key, p => (IReadOnlyList<MmVetGrade>)p.Value, StringComparer.Ordinal);
    }

    /// <inheritdoc />
    public async Task<BenchmarkMetrics> ScoreAsync(BenchmarkScoring scoring, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scoring);
        if (scoring.Variant == LmmsEvalVariant)
        {
            return await ScoreLmmsEvalAsync(scoring, cancellationToken).ConfigureAwait(false);
        }
        var grades = await GradeAsync(scoring, cancellationToken).ConfigureAwait(false);
        var items = ReadMetadata(scoring.Directory, scoring.Variant);
        var metrics = Aggregate(items, grades, Runs, DecimalPlaces);
        metrics["grader"] = scoring.Judge!.ModelName;
        metrics["prompt"] = MmVetGrader.PromptVersion;
        var answered = items.Count(i => grades[i.Id].All(g => g.Answered));
        var result = new BenchmarkMetrics(Name, metrics, answered, items.Count, scoring.Answers.Problems, scoring.Variant);
        var missing = items.Count - answered;
        if (missing > 0)
        {
            result.Notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"{missing} question(s) had no answer and score 0.0 in every run, still counted in the denominators (the official script stops on a missing answer): {string.Join(", ", items.Where(i => !grades[i.Id][0].Answered).Select(i => i.Id).Take(10))}"));
        }
        var known = items.Select(i => i.Id).ToHashSet(StringComparer.Ordinal);
        var extra = scoring.Answers.Answers.Count(a => !known.Contains(MmVetId(a.QuestionId)));
        if (extra > 0)
        {
            result.Notes.Add(string.Create(CultureInfo.InvariantCulture, $"{extra} answer(s) are for questions not in this MM-Vet set and were ignored."));
        }
        var gaveUp = grades.Values.Sum(g => g.Count(x => x.GaveUp));
        if (gaveUp > 0)
        {
            result.Notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"{gaveUp} grade(s) are 0.0 because the grader gave no score in {MmVetGrader.MaxCalls} calls (the official fallback)."));
        }
        var nan = grades.Where(p => p.Value.Any(g => double.IsNaN(g.Score))).Select(p => p.Key).ToList();
        if (nan.Count > 0)
        {
            result.Notes.Add($"the grader answered NaN for {string.Join(", ", nan)}; Python's float() accepts it, so every score it enters is NaN (written as null), as in the official script.");
        }
        return result;
    }

    /// <summary>
    /// The official tables from grades: <c>{"total", "capabilities": {cap…, total, std, runs}, "capability_integration": {combination…, total, std, runs}, "unrounded": {…}}</c>
    /// ("total" at the top is the rounded total again, the headline number).
    /// </summary>
    /// <param name="items">The questions (denominators count all of them).</param>
    /// <param name="grades">Per MM-Vet id, one grade per run.</param>
    /// <param name="runs">Runs.</param>
    /// <param name="decimalPlaces">Decimal places of the rounded tables.</param>
    public static JsonObject Aggregate(IReadOnlyList<MmVetItem> items, IReadOnlyDictionary<string, IReadOnlyList<MmVetGrade>> grades, int runs, int decimalPlaces)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(grades);
        ArgumentOutOfRangeException.ThrowIfLessThan(runs, 1);
        const string Total = "total";
        var capCount = new Dictionary<string, int>(StringComparer.Ordinal);
        var comboCount = new Dictionary<string, int>(StringComparer.Ordinal);
        var capOrder = new List<string>();
        var comboOrder = new List<string>();
        foreach (var item in items)
        {
            foreach (var cap in item.Capabilities)
            {
                if (capCount.TryAdd(cap, 0))
                {
                    capOrder.Add(cap);
                }
                capCount[cap]++;
            }
            if (comboCount.TryAdd(item.CombinationName, 0))
            {
                comboOrder.Add(item.CombinationName);
            }
            comboCount[item.CombinationName]++;
        }
        var capSums = capOrder.Append(Total).ToDictionary(k => k, _ => new double[runs], StringComparer.Ordinal);
        var comboSums = comboOrder.Append(Total).ToDictionary(k => k, _ => new double[runs], StringComparer.Ordinal);
        // Sums in the metadata's order, as the official loop adds the grade file's entries.
        foreach (var item in items)
        {
            var itemGrades = grades.TryGetValue(item.Id, out var g) ? g : throw new ArgumentException($"no grades for MM-Vet question {item.Id}.", nameof(grades));
            for (var i = 0; i < runs; i++)
            {
                var score = itemGrades[i].Score;
                foreach (var cap in item.Capabilities)
                {
                    capSums[cap][i] += score;
                }
                capSums[Total][i] += score;
                comboSums[item.CombinationName][i] += score;
                comboSums[Total][i] += score;
            }
        }
        capCount[Total] = items.Count;
        comboCount[Total] = items.Count;
        double[] Percent(double[] sums, int count) => [.. sums.Select(s => s / count * 100)];
        var totals = Percent(capSums[Total], items.Count);
        var std = MmVetNumPy.Std(totals);
        JsonArray RunsArray() => [.. totals.Select(t => Number(MmVetNumPy.Round(t, decimalPlaces)))];
        JsonObject Table(Dictionary<string, double[]> sums, Dictionary<string, int> counts, IEnumerable<string> order, bool rounded)
        {
            var table = new JsonObject();
            foreach (var key in order.OrderByDescending(k => counts[k]).Append(Total))
            {
                var mean = MmVetNumPy.Mean(Percent(sums[key], counts[key]));
                table[key] = Number(rounded ? MmVetNumPy.Round(mean, decimalPlaces) : mean);
            }
            table["std"] = Number(rounded ? MmVetNumPy.Round(std, decimalPlaces) : std);
            table["runs"] = RunsArray();
            return table;
        }
        var capabilities = Table(capSums, capCount, capOrder, rounded: true);
        return new JsonObject
        {
            // The headline number (the report's MM-Vet column): the rounded total, as printed.
            [Total] = capabilities[Total]?.DeepClone(),
            ["capabilities"] = capabilities,
            ["capability_integration"] = Table(comboSums, comboCount, comboOrder, rounded: true),
            ["unrounded"] = new JsonObject
            {
                ["capabilities"] = Table(capSums, capCount, capOrder, rounded: false),
                ["capability_integration"] = Table(comboSums, comboCount, comboOrder, rounded: false),
            },
            ["runs"] = runs,
            ["decimal_places"] = decimalPlaces,
        };
    }

    /// <summary>The grades as the official grade file writes them: <c>{id: {"model": […], "content": […], "score": […]}}</c>.</summary>
    public static JsonObject OfficialGradeFile(IReadOnlyDictionary<string, IReadOnlyList<MmVetGrade>> grades, string graderModel)
    {
        ArgumentNullException.ThrowIfNull(grades);
        var file = new JsonObject();
        foreach (var (id, list) in grades)
        {
            file[id] = new JsonObject
            {
                ["model"] = new JsonArray([.. list.Select(_ => (JsonNode?)JsonValue.Create(graderModel))]),
                ["content"] = new JsonArray([.. list.Select(g => (JsonNode?)JsonValue.Create(g.Content))]),
                ["score"] = new JsonArray([.. list.Select(g => Number(g.Score))]),
            };
        }
        return file;
    }

    private const int MaxNewTokens = 1024; // LLaVA's model_vqa.py, which mmvet.sh runs

    private async Task<BenchmarkMetrics> ScoreLmmsEvalAsync(BenchmarkScoring scoring, CancellationToken cancellationToken)
    {
        var grader = scoring.Judge ?? throw new ArgumentException($"MM-Vet's {LmmsEvalVariant} variant needs a grader: give BenchmarkScoring.Judge (lmms-eval's default is {MmVetLmmsEvalGrader.DefaultModel}).", nameof(scoring));
        if (GradingParallelism < 1)
        {
            throw new ArgumentException($"{nameof(GradingParallelism)} must be at least 1.", nameof(scoring));
        }
        var items = ReadMetadata(scoring.Directory);
        var answers = Answers(scoring.Answers);
        var grades = new MmVetGrade[items.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, items.Count), new ParallelOptions { MaxDegreeOfParallelism = GradingParallelism, CancellationToken = cancellationToken }, async (i, token) =>
        {
            var item = items[i];
            var prediction = answers.TryGetValue(item.Id, out var p) ? p : string.Empty;
            grades[i] = await MmVetLmmsEvalGrader.GradeAsync(grader, item.Question, item.Answer, prediction, token).ConfigureAwait(false) with { Answered = p is not null };
        }).ConfigureAwait(false);
        var metrics = MmVetLmmsEvalGrader.Aggregate(items, items.Select((item, i) => (item.Id, grades[i].Score)).ToDictionary(x => x.Id, x => x.Score, StringComparer.Ordinal));
        metrics["grader"] = grader.ModelName;
        metrics["prompt"] = MmVetLmmsEvalGrader.PromptVersion;
        metrics["runs"] = 1;
        var perQuestion = new JsonObject();
        for (var i = 0; i < items.Count; i++)
        {
            perQuestion[items[i].Id] = new JsonObject { ["score"] = grades[i].Score, ["content"] = grades[i].Content, ["calls"] = grades[i].Calls };
        }
        metrics["grades"] = perQuestion;
        var result = new BenchmarkMetrics(Name, metrics, items.Count, items.Count, scoring.Answers.Problems, LmmsEvalVariant);
        var missing = items.Where((_, i) => !grades[i].Answered).Select(i => i.Id).ToList();
        if (missing.Count > 0)
        {
            result.Notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"{missing.Count} question(s) had no answer and were graded with the empty prediction (lmms-eval generates for every doc): {string.Join(", ", missing.Take(10))}"));
        }
        var known = items.Select(i => i.Id).ToHashSet(StringComparer.Ordinal);
        var extra = scoring.Answers.Answers.Count(a => !known.Contains(MmVetId(a.QuestionId)));
        if (extra > 0)
        {
            result.Notes.Add(string.Create(CultureInfo.InvariantCulture, $"{extra} answer(s) are for questions not in this MM-Vet set and were ignored."));
        }
        var gaveUp = items.Where((_, i) => grades[i].GaveUp).Select(i => i.Id).ToList();
        if (gaveUp.Count > 0)
        {
            result.Notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"{gaveUp.Count} question(s) score 0.0 because the grader gave no usable score (no reply in three tries, garbage up to temperature 2.0, or out-of-range replies for {MmVetLmmsEvalGrader.MaxCalls} calls): {string.Join(", ", gaveUp.Take(10))}"));
        }
        return result;
    }

    private static JsonNode? Number(double value) => double.IsFinite(value) ? JsonValue.Create(value) : null;

    private static bool CheckVariant(string? variant) => variant switch
    {
        null or LmmsEvalVariant => false,
        BardSetVariant => true,
        _ => throw new ArgumentException($"MM-Vet has no variant '{variant}'; known: {BardSetVariant}, {LmmsEvalVariant}.", nameof(variant)),
    };

    private static Dictionary<string, string> Answers(AnswerFile answers)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var answer in answers.All)
        {
            map[MmVetId(answer.QuestionId)] = answer.Text;
        }
        return map;
    }
}
