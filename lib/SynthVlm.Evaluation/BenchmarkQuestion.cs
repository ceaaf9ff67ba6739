namespace SynthVlm.Evaluation;

/// <summary>
/// One question as the model under test is asked it: LLaVA-1.5's evaluation prompt (the question
/// file's text with the benchmark's instruction, e.g. "Answer the question using a single word or
/// phrase."), the image if any, and how long the answer may be.
/// </summary>
/// <param name="Id">The question id the answers file records (<c>question_id</c>).</param>
/// <param name="Prompt">The user turn's text, without the image token (the runner places the image).</param>
/// <param name="ImagePath">The image file, or null for a text-only question (MMLU).</param>
/// <param name="MaxNewTokens">Most tokens to generate (LLaVA's scripts: 128 for short answers; MM-Vet more).</param>
public sealed record BenchmarkQuestion(string Id, string Prompt, string? ImagePath, int MaxNewTokens = 128)
{
    /// <summary>
    /// Whether the question file gives the id as a JSON number (true) or string (false); the answers
    /// file writes it back the same way, since official scripts that key dictionaries by id tell 12
    /// from "12" (ScienceQA, SEED). Null: a number when the id is one.
    /// </summary>
    public bool? IdIsNumber { get; init; }

    /// <summary>Extra fields the answers file should carry for this benchmark's scoring (e.g. MMBench's <c>round_id</c>), or null.</summary>
    public IReadOnlyDictionary<string, string>? AnswerFields { get; init; }

    /// <summary>
    /// The options whose scores as the reply's first token decide the answer when the model can score them
    /// (MMLU's "A".."D": the official code's argmax over their next-token logits), or null for a generated answer.
    /// </summary>
    public IReadOnlyList<string>? ScoredOptions { get; init; }

    /// <summary>Earlier turns shown before the question (MMLU's five examples as user/assistant pairs), or null.</summary>
    public IReadOnlyList<(string User, string Assistant)>? Shots { get; init; }
}
