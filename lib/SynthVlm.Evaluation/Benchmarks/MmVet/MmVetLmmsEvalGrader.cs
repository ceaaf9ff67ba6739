using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// MM-Vet's grader and aggregation as lmms-eval defines them (EvolvingLMMs-Lab/lmms-eval at 75571cf,
/// <c>lmms_eval/tasks/mmvet/utils.py</c>: <c>mmvet_process_results</c>, <c>get_chat_response</c>,
/// <c>mmvet_aggregate_results</c>), the <see cref="MmVetBenchmark.LmmsEvalVariant"/> variant of <see cref="MmVetBenchmark"/>.
/// </summary>
/// <remarks>
/// <para><b>Prompt.</b> The official few-shot table with two differences (<see cref="Prompt"/>): the blank line after the
/// instructions is gone and the table's header reads "gpt_query_prompt | Ground truth | …" instead of "Question | …"
/// (a rename that reached the prompt text). Then a newline and <c>"question | answer | prediction |"</c> (quirk: no space
/// after the last bar, where the official has one), with <c>&lt;AND&gt;</c>/<c>&lt;OR&gt;</c> widened as officially.
/// The prediction is the answer stripped (lmms-eval's task strips every generation). One run, <see cref="MaxTokens"/>,
/// default model <see cref="DefaultModel"/>; no retry suffix.</para>
/// <para><b>A call</b> (<c>get_chat_response</c>): up to three tries; a <see cref="ChatModelException"/> or a reply that is
/// empty after Python's <c>strip</c> uses a try; after three the reply is empty.</para>
/// <para><b>The loop</b> (<c>mmvet_process_results</c>), from temperature 0: an empty reply scores 0.0 (quirk: a grader
/// that fails three times gives 0.0, not an error). Otherwise the reply is cut at its first space (U+0020), stripped and
/// read with Python's <c>float()</c>. A value in [0, 1] is the score. A value outside it, or NaN (quirk: NaN fails the
/// range check here, while the official accepts it), asks again at the same temperature (quirk: without end in lmms-eval;
/// here after <see cref="MaxCalls"/> calls the score is 0.0 and the grade says it gave up). Text that is no number raises
/// the temperature by 0.5 and makes one more call whose reply is thrown away (quirk), then — if the temperature has
/// reached 2.0 — scores 0.0; else the loop asks again at the new temperature. So garbage every time costs eight calls:
/// temperatures 0, 0.5 (discarded), 0.5, 1.0 (discarded), 1.0, 1.5 (discarded), 1.5, 2.0 (discarded).
/// Calls above temperature 0 carry the call's number as a seed (lmms-eval sends none) so that a cached re-run replays them.</para>
/// <para><b>Aggregation</b> (<see cref="Aggregate"/>): "total" = 100 × mean score (the value lmms-eval reports); per
/// capability rec, ocr, know, gen, spat, math the mean over questions whose comma-joined capability text contains the
/// name as a substring (quirk: "spatial" counts as spat); per capability combination of lmms-eval's fixed list of
/// sixteen the mean over questions whose capability set equals it (other combinations are dropped); a capability or
/// combination with no question is 0. Percent, unrounded.</para>
/// </remarks>
public static class MmVetLmmsEvalGrader
{
    /// <summary>lmms-eval's default grader (its <c>MODEL_VERSION</c> environment variable overrides it).</summary>
    public const string DefaultModel = "gpt-4o-2024-11-20";

    /// <summary>The version this definition was written from.</summary>
    public const string PromptVersion = "EvolvingLMMs-Lab/lmms-eval@75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3 lmms_eval/tasks/mmvet/utils.py";

    /// <summary>lmms-eval's <c>max_tokens</c> for the grader.</summary>
    public const int MaxTokens = 128;

    /// <summary>Grader calls after which a question whose replies keep falling outside [0, 1] scores 0.0 (lmms-eval asks forever).</summary>
    public const int MaxCalls = 32;

    private const int Patience = 3;
    private const double MaxTemperature = 2.0;

    /// <summary>The capabilities lmms-eval reports, in its order.</summary>
    public static IReadOnlyList<string> Capabilities { get; } = ["rec", "ocr", "know", "gen", "spat", "math"];

    /// <summary>The capability combinations lmms-eval reports, in its order.</summary>
    public static IReadOnlyList<string> Combinations { get; } =
    [
        "rec_gen_know", "rec", "spat_ocr", "spat_math_ocr", "rec_spat", "ocr", "math_ocr", "rec_know",
        "rec_spat_gen_ocr", "rec_gen_ocr_know", "rec_spat_ocr", "rec_ocr", "know_spat_ocr", "rec_spat_know", "spat_gen_ocr", "rec_spat_math_ocr",
    ];

    /// <summary>lmms-eval's few-shot prompt (see the class remarks); ends with a newline.</summary>
    public static string Prompt => MmVetGrader.Prompt
        .Replace("\n\nQuestion | Ground truth | Prediction | Correctness\n", "\ngpt_query_prompt | Ground truth | Prediction | Correctness\n", StringComparison.Ordinal);

    /// <summary>The text sent for one question (<paramref name="prediction"/> as the model gave it; it is stripped here).</summary>
    public static string Question(string question, string groundTruth, string prediction)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(groundTruth);
        ArgumentNullException.ThrowIfNull(prediction);
        var truth = groundTruth.Replace("<AND>", " <AND> ", StringComparison.Ordinal).Replace("<OR>", " <OR> ", StringComparison.Ordinal);
        return Prompt + "\n" + question + " | " + truth + " | " + PythonText.Strip(prediction) + " |";
    }

    /// <summary>lmms-eval's parse of a non-empty reply: false where <c>float()</c> raises; the value otherwise (range not checked).</summary>
    public static bool TryParseScore(string reply, out double score)
    {
        ArgumentNullException.ThrowIfNull(reply);
        var space = reply.IndexOf(' ', StringComparison.Ordinal);
        return MmVetPython.TryParse(MmVetPython.Strip(space < 0 ? reply : reply[..space]), out score);
    }

    /// <summary>Grades one prediction with lmms-eval's loop (see the class remarks).</summary>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static async Task<MmVetGrade> GradeAsync(IChatModel grader, string question, string groundTruth, string prediction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(grader);
        var text = Question(question, groundTruth, prediction);
        var calls = 0;
        var temperature = 0.0;
        async Task<string> Ask()
        {
            for (var attempt = 0; attempt < Patience; attempt++)
            {
                calls++;
                int? seed = temperature > 0 ? calls : null;
                try
                {
                    var reply = await grader.CompleteAsync(new ChatRequest([ChatMessage.User(text)], temperature, MaxTokens, seed), cancellationToken).ConfigureAwait(false);
                    var content = MmVetPython.Strip(reply.Text ?? string.Empty);
                    if (content.Length > 0)
                    {
                        return content;
                    }
                }
                catch (ChatModelException)
                {
                    // lmms-eval logs the error and tries again while patience lasts.
                }
            }
            return string.Empty;
        }
        while (true)
        {
            var content = await Ask().ConfigureAwait(false);
            if (content.Length == 0)
            {
                return new MmVetGrade(0.0, string.Empty, calls, GaveUp: true);
            }
            var space = content.IndexOf(' ', StringComparison.Ordinal);
            var token = MmVetPython.Strip(space < 0 ? content : content[..space]);
            if (MmVetPython.TryParse(token, out var score))
            {
                if (score >= 0.0 && score <= 1.0)
                {
                    return new MmVetGrade(score, token, calls, GaveUp: false);
                }
                if (calls >= MaxCalls)
                {
                    return new MmVetGrade(0.0, token, calls, GaveUp: true);
                }
                continue;
            }
            temperature += 0.5;
            _ = await Ask().ConfigureAwait(false);
            if (temperature >= MaxTemperature)
            {
                return new MmVetGrade(0.0, token, calls, GaveUp: true);
            }
        }
    }

    /// <summary>
    /// lmms-eval's aggregation (see the class remarks): <c>{"total", "capabilities": {…}, "capability_integration": {…}}</c>,
    /// in percent, unrounded, sums in <paramref name="items"/>' order.
    /// </summary>
    public static JsonObject Aggregate(IReadOnlyList<MmVetItem> items, IReadOnlyDictionary<string, double> scores)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(scores);
        double Score(MmVetItem item) => scores.TryGetValue(item.Id, out var s) ? s : throw new ArgumentException($"no score for MM-Vet question {item.Id}.", nameof(scores));
        var sum = 0.0;
        foreach (var item in items)
        {
            sum += Score(item);
        }
        var capabilities = new JsonObject();
        foreach (var cap in Capabilities)
        {
            var (s, n) = (0.0, 0);
            foreach (var item in items.Where(i => string.Join(',', i.Capabilities).Contains(cap, StringComparison.Ordinal)))
            {
                s += Score(item);
                n++;
            }
            capabilities[cap] = n > 0 ? s / n * 100 : 0;
        }
        var combinations = new JsonObject();
        foreach (var combination in Combinations)
        {
            var wanted = combination.Split('_').ToHashSet(StringComparer.Ordinal);
            var (s, n) = (0.0, 0);
            foreach (var item in items.Where(i => wanted.SetEquals(i.Capabilities)))
            {
                s += Score(item);
                n++;
            }
            combinations[combination] = n > 0 ? s / n * 100 : 0;
        }
        return new JsonObject
        {
            ["total"] = items.Count > 0 ? sum / items.Count * 100 : null,
            ["capabilities"] = capabilities,
            ["capability_integration"] = combinations,
        };
    }
}
