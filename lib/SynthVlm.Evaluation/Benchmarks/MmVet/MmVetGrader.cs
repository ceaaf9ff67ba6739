using System.Reflection;
using SynthVlm.ChatEndpoints;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>One grade: the score, what the official grade file records as "content", and how it came about.</summary>
/// <param name="Score">0.0–1.0 as parsed (NaN when the grader said "nan", which Python's float() accepts and the range check lets through).</param>
/// <param name="Content">The parsed token on success; the last raw reply when the grader never gave a score.</param>
/// <param name="Calls">Grader calls made (1–6).</param>
/// <param name="GaveUp">True when no reply parsed and the score is the official fallback 0.0.</param>
/// <param name="Answered">False when the model had no answer: no call was made and the score is 0.0.</param>
public sealed record MmVetGrade(double Score, string Content, int Calls, bool GaveUp, bool Answered = true);

/// <summary>
/// MM-Vet's GPT grader as yuweihao/MM-Vet's <c>mm-vet_evaluator.py</c> (commit acde843) defines it.
/// </summary>
/// <remarks>
/// <para>
/// The prompt is the official few-shot table (<see cref="Prompt"/>, version <see cref="PromptVersion"/>,
/// a resource written from the official file), then a newline and
/// <c>"question | answer | prediction | "</c>, where the ground truth has <c>&lt;AND&gt;</c> and
/// <c>&lt;OR&gt;</c> widened to <c>" &lt;AND&gt; "</c>/<c>" &lt;OR&gt; "</c> (so "a&lt;AND&gt;b" reads "a &lt;AND&gt; b").
/// One user message, <c>max_tokens</c> 3, temperature 0, model <see cref="DefaultModel"/> by default.
/// </para>
/// <para>
/// Parsing, with the official quirks: the reply is cut at its first space (U+0020 only), stripped
/// of Python whitespace and read with Python's <c>float()</c> (so "1e-1", "+.5", "0.1_0" and
/// fullwidth digits are scores, "5." is 5.0 and out of range, and " 0.5" with a leading space is
/// garbage); a value above 1.0 or below 0.0 is rejected, but NaN passes the check. On garbage
/// the grader is asked again with <see cref="RetrySuffix"/> appended, at the same temperature the
/// first time, then 0.5 higher each time (0, 0, 0.5, 1.0, 1.5, 2.0); after the sixth call the
/// reply is not even parsed: the score is 0.0 and the grade records that raw reply.
/// Retries above temperature 0 carry a seed (see <see cref="GradeAsync"/>) so that they are cached.
/// </para>
/// <para>
/// The official script also loops, sleeping 30 s, on OpenAI's RateLimitError; here the chat client
/// retries rate limits and other transient errors itself, and a grader that still fails stops the
/// scoring with a <see cref="ChatModelException"/> naming the question (the official script would crash).
/// </para>
/// </remarks>
public static class MmVetGrader
{
    /// <summary>The official grader model.</summary>
    public const string DefaultModel = "gpt-4-0613";

    /// <summary>The prompt's version: the repository and commit it was written from.</summary>
    public const string PromptVersion = "yuweihao/MM-Vet@acde843e02dae30047bb456ee4a8ab28dee7e0ae mm-vet_evaluator.py";

    /// <summary>Appended to the question on every call after an unparseable reply.</summary>
    public const string RetrySuffix = "\nPredict the correctness of the answer (digit): ";

    /// <summary>The official <c>max_tokens</c>.</summary>
    public const int MaxTokens = 3;

    /// <summary>Calls after which the official loop gives up (the last reply is recorded, not parsed).</summary>
    public const int MaxCalls = 6;

    private static readonly Lazy<string> PromptText = new(() =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("SynthVlm.Evaluation.Benchmarks.mmvet_grader_prompt.txt")
            ?? throw new InvalidOperationException("resource SynthVlm.Evaluation.Benchmarks.mmvet_grader_prompt.txt is missing from SynthVlm.Evaluation.");
        using var reader = new StreamReader(stream, new System.Text.UTF8Encoding(false));
        return reader.ReadToEnd();
    });

    /// <summary>The official few-shot prompt (ends with a newline).</summary>
    public static string Prompt => PromptText.Value;

    /// <summary>The text of the first call for one question.</summary>
    public static string Question(string question, string groundTruth, string prediction)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(groundTruth);
        ArgumentNullException.ThrowIfNull(prediction);
        var truth = groundTruth.Replace("<AND>", " <AND> ", StringComparison.Ordinal).Replace("<OR>", " <OR> ", StringComparison.Ordinal);
        return Prompt + "\n" + string.Join(" | ", question, truth, prediction, string.Empty);
    }

    /// <summary>The official parse of one reply: the token it records and whether it is a score.</summary>
    public static bool TryParseScore(string? reply, out string token, out double score)
    {
        score = 0;
        if (reply is null)
        {
            // None.split raises in the official code: garbage, and the recorded content stays the reply.
            token = string.Empty;
            return false;
        }
        var space = reply.IndexOf(' ', StringComparison.Ordinal);
        token = MmVetPython.Strip(space < 0 ? reply : reply[..space]);
        if (!MmVetPython.TryParse(token, out score))
        {
            return false;
        }
        return !(score > 1.0 || score < 0.0);
    }

    /// <summary>Grades one prediction with the official retry loop.</summary>
    /// <param name="grader">The grader model.</param>
    /// <param name="question">The question.</param>
    /// <param name="groundTruth">The ground truth (with <c>&lt;AND&gt;</c>/<c>&lt;OR&gt;</c>).</param>
    /// <param name="prediction">The model's answer.</param>
    /// <param name="seed">
    /// A seed for every call; null for the official request, which has none. Retries above
    /// temperature 0 are sent with <paramref name="seed"/> or else 0, the one place where the request
    /// differs from the official one: without a seed such a call is never cached, so a re-run would ask
    /// again and could grade differently.
    /// </param>
    /// <param name="cancellationToken">Stops the grading.</param>
    /// <exception cref="ChatModelException">The grader failed after its client's retries.</exception>
    public static async Task<MmVetGrade> GradeAsync(IChatModel grader, string question, string groundTruth, string prediction, int? seed = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(grader);
        var text = Question(question, groundTruth, prediction);
        var temperature = 0.0;
        var content = await AskAsync(grader, text, temperature, seed, cancellationToken).ConfigureAwait(false);
        var calls = 1;
        while (true)
        {
            if (TryParseScore(content, out var token, out var score))
            {
                return new MmVetGrade(score, token, calls, GaveUp: false);
            }
            // Above temperature 0 a call is cached only with a seed (OpenAiChatClient): the retry
            // then carries the run's seed (0 in run 0) so that a re-run replays it too.
            var retrySeed = temperature > 0 ? seed ?? 0 : seed;
            content = await AskAsync(grader, text + RetrySuffix, temperature, retrySeed, cancellationToken).ConfigureAwait(false);
            calls++;
            temperature += 0.5;
            if (calls >= MaxCalls)
            {
                return new MmVetGrade(0.0, content, calls, GaveUp: true);
            }
        }
    }

    private static async Task<string> AskAsync(IChatModel grader, string text, double temperature, int? seed, CancellationToken cancellationToken)
    {
        var reply = await grader.CompleteAsync(new ChatRequest([ChatMessage.User(text)], temperature, MaxTokens, seed), cancellationToken).ConfigureAwait(false);
        return reply.Text;
    }
}
