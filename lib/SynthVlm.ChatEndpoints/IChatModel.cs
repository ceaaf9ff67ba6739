namespace SynthVlm.ChatEndpoints;

/// <summary>
/// A chat model: answers a conversation of text and images. Implemented by an OpenAI-compatible
/// endpoint client and by the in-process LLaVA; benchmarks, graders and judges see only this.
/// </summary>
public interface IChatModel
{
    /// <summary>The model's name as results and caches record it (e.g. "llava-v1.5-7b", "gpt-4-0613").</summary>
    string ModelName { get; }

    /// <summary>Answers <paramref name="request"/>.</summary>
    /// <exception cref="ChatModelException">The model could not answer (after any retries); the message says why.</exception>
    Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default);
}

/// <summary>One message of a conversation.</summary>
/// <param name="Role">"system", "user" or "assistant".</param>
/// <param name="Text">The message's text.</param>
/// <param name="ImagePaths">Image files shown with the message (user messages), in order; null or empty for none.</param>
public sealed record ChatMessage(string Role, string Text, IReadOnlyList<string>? ImagePaths = null)
{
    /// <summary>A user message, optionally with images.</summary>
    public static ChatMessage User(string text, params string[] imagePaths) => new("user", text, imagePaths);

    /// <summary>A system message.</summary>
    public static ChatMessage System(string text) => new("system", text);

    /// <summary>An assistant message (a few-shot example's answer).</summary>
    public static ChatMessage Assistant(string text) => new("assistant", text);
}

/// <summary>What to ask.</summary>
/// <param name="Messages">The conversation, oldest first.</param>
/// <param name="Temperature">Sampling temperature; 0 is greedy.</param>
/// <param name="MaxTokens">Most tokens in the reply.</param>
/// <param name="Seed">Sampling seed where the model takes one.</param>
/// <param name="TopP">
/// Nucleus sampling: only the most likely tokens whose probabilities add up to this are drawn from, in (0, 1];
/// 1 (the default) is off, and is what a request without it meant before it existed (an endpoint is then sent no
/// <c>top_p</c>, and the reply cache key is the one it always was).
/// </param>
public sealed record ChatRequest(IReadOnlyList<ChatMessage> Messages, double Temperature = 0, int MaxTokens = 128, int? Seed = null, double TopP = 1)
{
    /// <summary>Whether <see cref="TopP"/> restricts sampling (below 1).</summary>
    public bool HasTopP => TopP < 1;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when <see cref="TopP"/> is not in (0, 1].</summary>
    public void ValidateTopP()
    {
        if (!(TopP > 0 && TopP <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, $"top_p must be in (0, 1]; found {TopP.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}.");
        }
    }
}

/// <summary>A reply.</summary>
/// <param name="Text">The assistant's text.</param>
/// <param name="FromCache">Whether it came from a cache rather than the model.</param>
public sealed record ChatReply(string Text, bool FromCache = false);

/// <summary>A chat model could not answer; the message names the model and the reason.</summary>
public sealed class ChatModelException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ChatModelException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ChatModelException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public ChatModelException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// A chat model that can also say how likely each of a few options is as the first token of its reply:
/// what multiple-choice evaluations that read the model's scores instead of its text need (MMLU's official
/// code takes the argmax over the A, B, C, D scores of the next token after "Answer:").
/// </summary>
public interface IOptionScoringModel : IChatModel
{
    /// <summary>
    /// Scores each of <paramref name="options"/> as the first token of the reply to <paramref name="request"/>
    /// (its temperature, seed and max_tokens are ignored): a log-probability or logit, any score whose order is the
    /// model's preference; what kind is said by the implementation.
    /// </summary>
    /// <param name="request">The conversation, ending with the user's message.</param>
    /// <param name="options">The options, e.g. "A", "B", "C", "D".</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>One score per option, in order.</returns>
    /// <exception cref="ChatModelException">The model could not score (after any retries); the message says why.</exception>
    Task<IReadOnlyList<double>> ScoreOptionsAsync(ChatRequest request, IReadOnlyList<string> options, CancellationToken cancellationToken = default);
}
