using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>MMBench's "lmms-eval" variant (see <see cref="ScoreLmmsEvalAsync"/>).</summary>
public sealed partial class MmBenchBenchmark
{
    /// <summary>
    /// The variant that scores as lmms-eval's <c>mmbench_en_dev</c> task does (EvolvingLMMs-Lab/lmms-eval at 75571cf,
    /// <c>lmms_eval/tasks/mmbench/en_utils.py</c> and <c>mmbench_evals.py</c>, <c>eval_method="openai"</c>, its default).
    /// </summary>
    public const string LmmsEvalVariant = "lmms-eval";

    /// <summary>
    /// The variant that scores as lmms-eval's <c>mmbench_en_dev_static</c> task does (<c>eval_method="static"</c>): no judge;
    /// rows <see cref="InferLmmsEval"/> cannot read are read by <see cref="ExtractMcqLmmsEval"/>.
    /// </summary>
    public const string LmmsEvalStaticVariant = "lmms-eval-static";

    /// <summary>The judge model lmms-eval asks by default (its <c>MODEL_VERSION</c> environment variable overrides it).</summary>
    public const string LmmsEvalDefaultJudge = "gpt-4o-2024-11-20";

    /// <summary>lmms-eval's judge request: <c>max_tokens</c> (temperature is 0).</summary>
    public const int LmmsEvalJudgeMaxTokens = 256;

    /// <summary>The seed lmms-eval gives Python's global <c>random</c> before each evaluation.</summary>
    public const int LmmsEvalSeed = 2680;

    private const string LmmsEvalFailure = "Failed to obtain answer via API";
    private const int LmmsEvalRetries = 3;
    private const int LmmsEvalPatience = 5;
    private const string LmmsEvalLetters = "ABCDE";

    private const string LmmsEvalJudgeTemplate =
        "You are an AI assistant who will help me to match an answer with several options of a single-choice question. " +
        "You are provided with a question, several options, and an answer, and you need to find which option is most similar to the answer. " +
        "If the meaning of all options are significantly different from the answer, output E. " +
        "Your should output a single uppercase character in A, B, C, D (if they are valid options), and E. \n" +
        "Example 1: \nQuestion: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\nAnswer: a cute teddy bear\nYour output: A\n" +
        "Example 2: \nQuestion: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\nAnswer: Spider\nYour output: E\n" +
        "Example 3: \nQuestion: {0}?\nOptions: {1}\nAnswer: {2}\nYour output: ";

    private static readonly (string Prefix, string Suffix)[] LmmsEvalAffixes =
        [("", "."), ("", ","), ("", ":"), ("", ")"), ("", ")."), ("(", ")"), ("(", ")."), (":", ""), (":", ","), (":", "."), (":", ")"), (":", ").")];

    /// <summary>
    /// lmms-eval's <c>can_infer</c> (the old VLMEvalKit one in <c>mmbench_evals.py</c>): the letter an answer names, or null.
    /// </summary>
    /// <remarks>
    /// First <c>can_infer_option</c>, over the letters A–E whatever the options (E is lmms-eval's "none of them"): nothing
    /// when the text contains "Failed to obtain answer via API"; the text is split on Python whitespace; when exactly one
    /// of A–E is a whole token, that letter, unless "A" is a token and there are more than three tokens (quirk: "A" might be
    /// an article, and then even "B" alone in a long text is not read here); else the first of the twelve
    /// prefix/suffix forms ("A.", "A,", "A:", "A)", "A).", "(A)", "(A).", ":A", ":A,", ":A.", ":A)", ":A).") that exactly one
    /// letter takes as a whole token gives that letter. Then <c>can_infer_text</c>: the option (of <paramref name="choices"/>)
    /// whose lower-cased text (Python's <c>lower</c>) is contained in the lower-cased answer, when exactly one is. A letter
    /// that is no option (E, or D of three options) is returned as it is, and then counts as wrong.
    /// </remarks>
    public static char? InferLmmsEval(string answer, IReadOnlyList<KeyValuePair<char, string>> choices)
    {
        ArgumentNullException.ThrowIfNull(answer);
        ArgumentNullException.ThrowIfNull(choices);
        return InferOptionLmmsEval(answer) ?? InferTextLmmsEval(answer, choices);
    }

    /// <summary>
    /// lmms-eval's judge prompt (<c>build_prompt</c> in <c>mmbench_evals.py</c>): VLMEvalKit's old English template with E
    /// (not Z) as the "no option" letter and no Chinese form; "Question: QUESTION?" (quirk: a question ending in "?" gets a
    /// second one) and "Options: There are several options: \nA. text\n..." over A–D up to the first missing option.
    /// </summary>
    public static string JudgePromptLmmsEval(string question, IReadOnlyList<string> options, string prediction)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(options);
        var text = new StringBuilder("There are several options: \n");
        for (var i = 0; i < options.Count && i < 26; i++)
        {
            text.Append((char)('A' + i)).Append(". ").Append(options[i]).Append('\n');
        }
        return string.Format(CultureInfo.InvariantCulture, LmmsEvalJudgeTemplate, question, text, prediction);
    }

    /// <summary>
    /// Scores as lmms-eval's <c>mmbench_en_dev</c> task: <c>mmbench_process_results</c>, then
    /// <c>MMBench_Evaluator.eval_result(results, eval_method="openai")</c>.
    /// </summary>
    /// <remarks>
    /// <para><b>Docs.</b> lmms-eval reads lmms-lab's MMBench dataset; here each TSV row is a doc (same columns, the TSV's
    /// <c>l2-category</c> as its <c>L2-category</c>). Its generation is the last answer to the row's index, stripped
    /// (Python <c>strip</c>, as lmms-eval's task and <c>mmbench_process_results</c> both do); a row without an answer gets
    /// the empty text, since lmms-eval generates for every doc (noted). Unlike the official read-back, "NA", "None" or
    /// "" stay those texts (no pandas missing-value conversion). An option cell that is missing is NaN; an option column
    /// the TSV lacks (C, D) is the text "nan" (quirk: <c>doc.get(c, "nan")</c>, which is then an option named "nan").</para>
    /// <para><b>Circular evaluation.</b> Rows in index order; a question is a row with index below 1,000,000 and its group the
    /// rows whose index modulo 1,000,000 (Python's, non-negative) equals it. Each row of the group in order is read with
    /// <see cref="InferLmmsEval"/> over its non-missing options A–D; the first row read as a letter other than its
    /// <c>answer</c> fails the question and stops the reading. Then each unread row in order goes to the judge
    /// (<see cref="JudgePromptLmmsEval"/>, one user message, temperature 0, <see cref="LmmsEvalJudgeMaxTokens"/>): each ask
    /// makes up to five calls (a <see cref="ChatModelException"/> or a reply empty after <c>strip</c> uses one; after five
    /// the ask's reply is "Failed to obtain answer via API"); a reply containing that text, or naming no letter, uses one of
    /// three asks. After three the letter is drawn by <c>random.randint</c> from A, B, C, D, E (quirk: always five letters,
    /// because the count is of option columns, which lmms-eval always fills), with Python's generator seeded with 2680 once
    /// per evaluation (<see cref="LmmsEvalSeed"/>; draws here equal Python's). The first row not read as its answer fails the
    /// question. A question index with no row in its group (negative indices) counts as right (quirk: an empty loop).</para>
    /// <para><b>Metrics</b> (lmms-eval's details file): "Overall" = mean over questions, "category_acc" and
    /// "l2_category_acc" = mean per category and per l2-category (pandas groupby: sorted, missing categories left out), all
    /// fractions, and "gpt_eval_score" = 100 × Overall (the value lmms-eval reports). No per-split nesting.
    /// Without a judge the scoring stops with an <see cref="ArgumentException"/> at the first row that needs one.</para>
    /// <para><b>Static</b> (<paramref name="staticOnly"/>, <see cref="LmmsEvalStaticVariant"/>): instead of the judge, each unread
    /// row is read by <see cref="ExtractMcqLmmsEval"/> over the letters of its non-missing options A–D (sorted); no letter, or
    /// another than the answer, fails the question.</para>
    /// </remarks>
    private async Task<BenchmarkMetrics> ScoreLmmsEvalAsync(string directory, AnswerFile answers, IChatModel? judge, bool staticOnly, CancellationToken cancellationToken)
    {
        var table = ReadTable(directory, ["index", "A", "B", "answer"]);
        var predictions = Predictions(table, answers, out var unknown);
        var problems = new List<InputProblem>(answers.Problems);
        problems.AddRange(unknown.Select(a => new InputProblem(answers.Path, a.Line, $"question {a.QuestionId} is not an index of {table.Path}; ignored (lmms-eval has no such doc)")));
        var rows = Enumerable.Range(0, table.Rows.Count).OrderBy(r => IndexOf(table, r)).ToList();
        var texts = predictions.Select(p => PythonText.Strip(p ?? string.Empty)).ToList();
        var answer = table.Column("answer");
        var mains = rows.Where(r => IndexOf(table, r) < CircularOffset).ToList();
        var random = new PythonRandom(LmmsEvalSeed);
        var state = new Circular(mains);
        var hits = new Dictionary<int, bool>();
        foreach (var m in mains)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var group = rows.Where(r => PythonRemainder(IndexOf(table, r)) == IndexOf(table, m)).ToList();
            var read = new List<char?>();
            var hit = true;
            foreach (var r in group)
            {
                var letter = InferLmmsEval(texts[r], LmmsEvalChoices(table, table.Rows[r]));
                read.Add(letter);
                if (letter is { } l && l.ToString() != table.Rows[r][answer])
                {
                    hit = false;
                    break;
                }
            }
            state.Unread += read.Count(x => x is null);
            for (var i = 0; hit && i < read.Count; i++)
            {
                if (read[i] is null)
                {
                    var r = group[i];
                    var letter = staticOnly
                        ? ExtractMcqLmmsEval(texts[r], [.. LmmsEvalChoices(table, table.Rows[r]).Select(c => c.Key).Order()])
                        : (await ExtractLmmsEvalAsync(judge, table, r, texts[r], random, state, cancellationToken).ConfigureAwait(false)).ToString();
                    hit = letter.Length > 0 && letter == table.Rows[r][answer];
                }
            }
            hits[m] = hit;
        }

        var metrics = new JsonObject { ["Overall"] = Mean(mains, m => hits[m]) };
        metrics["gpt_eval_score"] = metrics["Overall"]!.GetValue<double>() * 100;
        foreach (var (column, key) in (ReadOnlySpan<(string, string)>)[("category", "category_acc"), ("l2-category", "l2_category_acc")])
        {
            var c = table.Column(column);
            var groups = new JsonObject();
            if (c >= 0)
            {
                foreach (var name in mains.Select(m => table.Rows[m][c]).OfType<string>().Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
                {
                    groups[name] = Mean([.. mains.Where(m => table.Rows[m][c] == name)], m => hits[m]);
                }
            }
            metrics[key] = groups;
        }
        metrics["judge"] = judge?.ModelName;
        var result = new BenchmarkMetrics(Name, metrics, mains.Count, mains.Count, problems, staticOnly ? LmmsEvalStaticVariant : LmmsEvalVariant);
        var missing = predictions.Count(p => p is null);
        if (missing > 0)
        {
            result.Notes.Add($"{missing} of {table.Rows.Count} TSV rows had no answer; lmms-eval generates for every doc, so their prediction is the empty text.");
        }
        if (staticOnly)
        {
            result.Notes.Add($"{state.Unread} predictions named no letter by can_infer and were read by lmms-eval's mcq_extract (no judge).");
        }
        else if (state.JudgeCalls > 0 || state.Unread > 0)
        {
            result.Notes.Add($"{state.Unread} predictions named no letter; the judge {judge?.ModelName ?? "(none)"} was called {state.JudgeCalls} times{(state.RandomChoices > 0 ? $", and {state.RandomChoices} times no letter came from three asks, so one of A-E was drawn as lmms-eval draws it (Python random, seed {LmmsEvalSeed})" : "")}.");
        }
        if (answers.Duplicates > 0)
        {
            result.Notes.Add($"{answers.Duplicates} answers were replaced by a later answer to the same index.");
        }
        return result;
    }

    private static async Task<char> ExtractLmmsEvalAsync(IChatModel? judge, MultipleChoiceTable table, int r, string prediction, PythonRandom random, Circular state, CancellationToken cancellationToken)
    {
        var row = table.Rows[r];
        if (judge is null)
        {
            throw new ArgumentException($"mmbench variant {LmmsEvalVariant}: {table.Path} line {table.Lines[r]} (index {IndexOf(table, r)}): the prediction '{prediction}' names no letter, and lmms-eval then asks a judge; give BenchmarkScoring.Judge (lmms-eval's default is {LmmsEvalDefaultJudge}).");
        }
        var options = new List<string>();
        foreach (var letter in "ABCD")
        {
            if (LmmsEvalOption(table, row, letter) is not { } text)
            {
                break;
            }
            options.Add(text);
        }
        var prompt = JudgePromptLmmsEval(Cell(table, row, "question") ?? "nan", options, prediction);
        var choices = LmmsEvalChoices(table, row);
        for (var ask = 0; ask < LmmsEvalRetries; ask++)
        {
            var reply = await AskLmmsEvalAsync(judge, prompt, state, cancellationToken).ConfigureAwait(false);
            if (!reply.Contains(LmmsEvalFailure, StringComparison.Ordinal) && InferLmmsEval(reply, choices) is { } found)
            {
                return found;
            }
        }
        state.RandomChoices++;
        return LmmsEvalLetters[random.RandInt(0, LmmsEvalLetters.Length - 1)];
    }

    private static async Task<string> AskLmmsEvalAsync(IChatModel judge, string prompt, Circular state, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < LmmsEvalPatience; attempt++)
        {
            try
            {
                state.JudgeCalls++;
                var reply = await judge.CompleteAsync(new ChatRequest([ChatMessage.User(prompt)], 0, LmmsEvalJudgeMaxTokens), cancellationToken).ConfigureAwait(false);
                var text = PythonText.Strip(reply.Text ?? string.Empty);
                if (text.Length > 0)
                {
                    return text;
                }
            }
            catch (ChatModelException)
            {
                // lmms-eval logs the error and tries again while patience lasts.
            }
        }
        return LmmsEvalFailure;
    }

    /// <summary>The option cell as lmms-eval's doc has it: null when missing (NaN), "nan" when the TSV lacks the column.</summary>
    private static string? LmmsEvalOption(MultipleChoiceTable table, string?[] row, char letter)
    {
        var c = table.Column(letter.ToString());
        return c < 0 ? "nan" : row[c];
    }

    private static List<KeyValuePair<char, string>> LmmsEvalChoices(MultipleChoiceTable table, string?[] row)
    {
        var choices = new List<KeyValuePair<char, string>>();
        foreach (var letter in "ABCD")
        {
            if (LmmsEvalOption(table, row, letter) is { } text)
            {
                choices.Add(new(letter, text));
            }
        }
        return choices;
    }

    /// <summary>
    /// lmms-eval's <c>extract_mcq_answer</c> (<c>lmms_eval/tasks/_task_utils/mcq_extract.py</c>): the letter of
    /// <paramref name="choices"/> (A–H when empty) a free-form answer names, or "" when none.
    /// </summary>
    /// <remarks>
    /// The text is stripped, then stripped of each of , . ! ? ; : ' " in turn (only that character, both ends), and padded
    /// with a space each side. Candidates, each with a code-point position and a priority: "(L)" (6, last occurrence), "L."
    /// (5), "L:" (4), "L)" (3), "L " (2), the first L after any of the answer phrases ("the answer is", "i choose", ... in
    /// English, Korean, Chinese and Japanese; found in the Python-lower-cased text, whose positions are then used in the
    /// original, a quirk where lower-casing changes the length) (7), a leading L not followed by a letter (10), a trailing L
    /// not preceded by a letter (9); with none of those, any occurrence of L (0, last). The highest priority wins, then the
    /// latest position, then the earliest found. Quirk: letters are matched anywhere, so "(B)" inside a word counts, and
    /// "A " in "A cat" is a candidate.
    /// </remarks>
    public static string ExtractMcqLmmsEval(string response, IReadOnlyList<char> choices)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(choices);
        if (PythonText.Strip(response).Length == 0)
        {
            return string.Empty;
        }
        var letters = choices.Count > 0 ? [.. choices.Select(c => c.ToString())] : McqDefaultChoices;
        var stripped0 = PythonText.Strip(response);
        foreach (var c in ",.!?;:'\"")
        {
            stripped0 = stripped0.Trim(c);
        }
        var text = CodePoints(" " + stripped0 + " ");
        var candidates = new List<(string Letter, int Position, int Priority)>();
        foreach (var (prefix, suffix, priority) in McqForms)
        {
            foreach (var l in letters)
            {
                var at = RFind(text, CodePoints(prefix + l + suffix));
                if (at >= 0)
                {
                    candidates.Add((l, at, priority));
                }
            }
        }
        var lower = CodePoints(PythonText.Lower(string.Concat(text.Select(char.ConvertFromUtf32))));
        foreach (var phrase in McqPhrases)
        {
            var idx = Find(lower, CodePoints(phrase), 0);
            if (idx >= 0)
            {
                var after = idx + CodePoints(phrase).Length;
                foreach (var l in letters)
                {
                    var at = Find(text, CodePoints(l), after);
                    if (at >= 0)
                    {
                        candidates.Add((l, at, 7));
                    }
                }
            }
        }
        var trimmed = CodePoints(PythonText.Strip(string.Concat(text.Select(char.ConvertFromUtf32))));
        foreach (var l in letters)
        {
            var cp = CodePoints(l);
            if (StartsWith(trimmed, cp, 0) && (trimmed.Length == 1 || !IsAlpha(trimmed[1])))
            {
                candidates.Add((l, 0, 10));
            }
        }
        foreach (var l in letters)
        {
            var cp = CodePoints(l);
            if (trimmed.Length >= cp.Length && StartsWith(trimmed, cp, trimmed.Length - cp.Length) && (trimmed.Length == 1 || !IsAlpha(trimmed[^2])))
            {
                candidates.Add((l, text.Length - 1, 9));
            }
        }
        if (candidates.Count == 0)
        {
            foreach (var l in letters)
            {
                var at = RFind(text, CodePoints(l));
                if (at >= 0)
                {
                    candidates.Add((l, at, 0));
                }
            }
        }
        if (candidates.Count == 0)
        {
            return string.Empty;
        }
        var best = candidates[0];
        foreach (var c in candidates.Skip(1))
        {
            if (c.Priority > best.Priority || (c.Priority == best.Priority && c.Position > best.Position))
            {
                best = c;
            }
        }
        return best.Letter;
    }

    private static readonly string[] McqDefaultChoices = ["A", "B", "C", "D", "E", "F", "G", "H"];

    private static readonly (string Prefix, string Suffix, int Priority)[] McqForms = [("(", ")", 6), ("", ".", 5), ("", ":", 4), ("", ")", 3), ("", " ", 2)];

    private static readonly string[] McqPhrases =
    [
        "the answer is", "answer is", "the correct answer is", "correct answer is", "the best answer is", "best answer is",
        "the correct option is", "correct option is", "the best option is", "best option is", "the choice is", "choice is",
        "the correct choice is", "correct choice is", "i choose", "i select", "i pick", "my answer is", "my choice is",
        "\uc635\uc158", "\uc815\ub2f5\uc740", "\ub2f5\uc740", "\ub2f5:", "\u7b54\u6848\u662f", "\u7b54\u6848\u4e3a", "\u9009", "\u7b54\u3048\u306f",
    ];

    private static int[] CodePoints(string s) => [.. s.EnumerateRunes().Select(r => r.Value)];

    private static bool StartsWith(int[] text, int[] part, int at)
    {
        if (at < 0 || at + part.Length > text.Length)
        {
            return false;
        }
        for (var i = 0; i < part.Length; i++)
        {
            if (text[at + i] != part[i])
            {
                return false;
            }
        }
        return true;
    }

    private static int Find(int[] text, int[] part, int from)
    {
        for (var i = Math.Max(from, 0); i + part.Length <= text.Length; i++)
        {
            if (StartsWith(text, part, i))
            {
                return i;
            }
        }
        return -1;
    }

    private static int RFind(int[] text, int[] part)
    {
        for (var i = text.Length - part.Length; i >= 0; i--)
        {
            if (StartsWith(text, part, i))
            {
                return i;
            }
        }
        return -1;
    }

    private static bool IsAlpha(int codePoint) => System.Globalization.CharUnicodeInfo.GetUnicodeCategory(codePoint) is
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter;

    private static char? InferOptionLmmsEval(string answer)
    {
        if (answer.Contains(LmmsEvalFailure, StringComparison.Ordinal))
        {
            return null;
        }
        var splits = PythonText.Split(answer);
        int Count(string prefix, string suffix) => LmmsEvalLetters.Count(c => splits.Contains(prefix + c + suffix));
        if (Count("", "") == 1)
        {
            foreach (var c in LmmsEvalLetters)
            {
                if (splits.Contains("A") && splits.Count > 3)
                {
                    break;
                }
                if (splits.Contains(c.ToString()))
                {
                    return c;
                }
            }
        }
        foreach (var (prefix, suffix) in LmmsEvalAffixes)
        {
            if (Count(prefix, suffix) == 1)
            {
                foreach (var c in LmmsEvalLetters)
                {
                    if (splits.Contains(prefix + c + suffix))
                    {
                        return c;
                    }
                }
            }
        }
        return null;
    }

    private static char? InferTextLmmsEval(string answer, IReadOnlyList<KeyValuePair<char, string>> choices)
    {
        var lower = PythonText.Lower(answer);
        var found = choices.Where(c => lower.Contains(PythonText.Lower(c.Value), StringComparison.Ordinal)).Select(c => c.Key).ToList();
        return found.Count == 1 ? found[0] : null;
    }
}
