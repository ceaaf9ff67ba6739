using System.Text.Json;

namespace SynthVlm.Evaluation;

/// <summary>
/// One model answer, as LLaVA's evaluation scripts write them (model_vqa_loader.py and friends):
/// a JSONL line <c>{"question_id", "prompt", "text", "answer_id", "model_id", "metadata"}</c>.
/// </summary>
/// <param name="QuestionId">The question's id as text (a JSON number is kept as written, e.g. "262148000").</param>
/// <param name="Text">The model's answer.</param>
/// <param name="Line">The 1-based line (or array index + 1) in the answers file.</param>
/// <param name="Fields">The whole JSON object (benchmarks that need more than the text read it here).</param>
public sealed record ModelAnswer(string QuestionId, string Text, int Line, JsonElement Fields);

/// <summary>A line of an answers or benchmark file that could not be used, and why.</summary>
/// <param name="File">The file.</param>
/// <param name="Line">The 1-based line (0 when the problem is the whole file).</param>
/// <param name="Problem">What is wrong, e.g. "no \"question_id\"" or "not JSON: ...".</param>
public sealed record InputProblem(string File, int Line, string Problem)
{
    /// <inheritdoc />
    public override string ToString() => Line > 0 ? $"{File}:{Line}: {Problem}" : $"{File}: {Problem}";
}
