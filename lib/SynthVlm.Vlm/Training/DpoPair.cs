using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Prompts;

namespace SynthVlm.Vlm.Training;

/// <summary>
/// One preference pair as token ids: a prompt (at most one image marker) and two responses, the chosen
/// one preferred. Each side becomes prompt + response with the prompt masked
/// (<see cref="LlavaConfig.IgnoreIndex"/>) and every response id supervised; a response should end with
/// the end-of-sequence id, as TRL appends it.
/// </summary>
/// <param name="Id">Names the pair in errors and per-pair results.</param>
/// <param name="PromptIds">The prompt (e.g. <see cref="Prompts.LlavaPromptEncoder.EncodeGenerationPrompt(string)"/>).</param>
/// <param name="ChosenIds">The preferred response.</param>
/// <param name="RejectedIds">The other response.</param>
public sealed record DpoPair(string Id, int[] PromptIds, int[] ChosenIds, int[] RejectedIds)
{
    /// <summary>
    /// A pair from text, tokenized as TRL does for a chat model: the prompt is LLaVA's generation prompt for one
    /// image (<see cref="LlavaPromptEncoder.EncodeGenerationPrompt(string, int)"/>: vicuna_v1, the image first),
    /// each response is tokenized without special tokens and ended with the end-of-sequence id.
    /// </summary>
    /// <exception cref="ArgumentException">The prompt contains "&lt;image&gt;" itself.</exception>
    public static DpoPair FromText(LlavaPromptEncoder encoder, string id, string userPrompt, string chosen, string rejected, int imageTokenIndex = LlavaTokens.ImageTokenIndex)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(chosen);
        ArgumentNullException.ThrowIfNull(rejected);
        var tokenizer = encoder.Tokenizer;
        return new DpoPair(
            id,
            encoder.EncodeGenerationPrompt(userPrompt, imageTokenIndex),
            chosen.Length == 0 ? [] : [.. tokenizer.Encode(chosen, addSpecialTokens: false), tokenizer.EosId],
            rejected.Length == 0 ? [] : [.. tokenizer.Encode(rejected, addSpecialTokens: false), tokenizer.EosId]);
    }

    /// <summary>Whether the prompt holds an image marker (the pair then needs one image).</summary>
    public bool HasImage(LlavaConfig config) => PromptIds.Any(id => config.IsImageToken(id));

    /// <summary>The chosen side as a model sequence, the prompt masked.</summary>
    public LlavaSequence Chosen => Side(ChosenIds);

    /// <summary>The rejected side as a model sequence, the prompt masked.</summary>
    public LlavaSequence Rejected => Side(RejectedIds);

    /// <summary>
    /// Checks the pair against <paramref name="config"/>: ids present, inside the vocabulary, one image
    /// marker at most and only in the prompt, and at least one response token left after LLaVA's
    /// truncation to <see cref="LlavaConfig.ModelMaxLength"/> (the image counts
    /// <see cref="LlavaConfig.ImageTokenCount"/> positions).
    /// </summary>
    /// <exception cref="DpoPairException">The pair cannot be scored; the message names it and says why.</exception>
    public void Validate(LlavaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (string.IsNullOrEmpty(Id))
        {
            throw new DpoPairException("(no id)", "the pair has no id.");
        }
        if (PromptIds is null || PromptIds.Length == 0)
        {
            throw new DpoPairException(Id, "the prompt is empty; the first response token is predicted from the prompt's last token.");
        }
        foreach (var (name, ids) in new[] { ("chosen", ChosenIds), ("rejected", RejectedIds) })
        {
            if (ids is null || ids.Length == 0)
            {
                throw new DpoPairException(Id, $"the {name} response is empty; DPO needs at least one response token on each side.");
            }
            var marker = Array.FindIndex(ids, id => config.IsImageToken(id));
            if (marker >= 0)
            {
                throw new DpoPairException(Id, $"the {name} response holds the image marker {ids[marker]} at index {marker}; the image belongs to the prompt.");
            }
        }
        var markers = PromptIds.Count(id => config.IsImageToken(id));
        if (markers > 1)
        {
            throw new DpoPairException(Id, $"the prompt holds {markers} image markers; one image per pair is supported.");
        }
        foreach (var (name, ids) in new[] { ("prompt", PromptIds), ("chosen response", ChosenIds), ("rejected response", RejectedIds) })
        {
            var bad = ids.Where(id => !config.IsImageToken(id)).FirstOrDefault(id => id < 0 || id >= config.Text.VocabSize, int.MinValue);
            if (bad != int.MinValue)
            {
                throw new DpoPairException(Id, $"the {name} holds token id {bad}, outside the vocabulary of {config.Text.VocabSize}.");
            }
        }
        var promptPositions = PromptIds.Length - markers + (markers * config.ImageTokenCount);
        if (promptPositions >= config.ModelMaxLength)
        {
            throw new DpoPairException(Id,
                $"the responses are fully truncated: the prompt takes {promptPositions} positions{(markers > 0 ? $" ({config.ImageTokenCount} of them the image)" : "")} " +
                $"and the context holds {config.ModelMaxLength}, so no response token is left to score.")
            {
                AnswerCut = true,
                PromptPositions = promptPositions,
            };
        }
    }

    private LlavaSequence Side(int[] response) =>
        new([.. PromptIds, .. response], [.. Enumerable.Repeat(LlavaConfig.IgnoreIndex, PromptIds.Length), .. response]);
}

/// <summary>A pair's reference-model log-probs, in the objective's units (summed; per-token averages for IPO).</summary>
/// <param name="Chosen">The reference's log-prob of the chosen response.</param>
/// <param name="Rejected">The reference's log-prob of the rejected response.</param>
public sealed record DpoReferenceLogps(double Chosen, double Rejected);

/// <summary>A preference pair that cannot be scored; <see cref="PairId"/> names it and the message says why.</summary>
public sealed class DpoPairException : Exception
{
    /// <summary>Creates the exception for pair <paramref name="pairId"/>.</summary>
    public DpoPairException(string pairId, string problem)
        : base($"DPO pair '{pairId}': {problem}")
    {
        PairId = pairId;
    }

    /// <summary>Creates the exception with a message.</summary>
    public DpoPairException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public DpoPairException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with the default message.</summary>
    public DpoPairException()
    {
    }

    /// <summary>The pair that could not be scored, when known.</summary>
    public string? PairId { get; }

    /// <summary>Whether the reason is that truncation to the context leaves no response token (chosen or rejected).</summary>
    public bool AnswerCut { get; init; }

    /// <summary>Positions the prompt takes (the image counted in full), when <see cref="AnswerCut"/> and known.</summary>
    public int? PromptPositions { get; init; }
}
