using SynthVlm.ChatEndpoints;

namespace SynthVlm.Hallucination.Claims;

/// <summary>The claims found in a caption, or why there are none.</summary>
/// <param name="Claims">The claims, in the extractor's order (empty on failure).</param>
/// <param name="Answer">The extractor's raw reply, or null when there was none.</param>
/// <param name="Cause">Why extraction failed (<see cref="UnjudgedCause.EmptyCaption"/>, <see cref="UnjudgedCause.ExtractorFailed"/>, <see cref="UnjudgedCause.ClaimsUnparseable"/>); null on success.</param>
/// <param name="Reason">The details of <paramref name="Cause"/>; null on success.</param>
public sealed record ClaimExtraction(IReadOnlyList<string> Claims, string? Answer, UnjudgedCause? Cause, string? Reason)
{
    /// <summary>Whether the reply was read (the list may still be empty).</summary>
    public bool Succeeded => Cause is null;
}

/// <summary>
/// Splits a caption into atomic claims with a language model and the
/// <see cref="ClaimExtractionPrompt"/> (text only, temperature 0, so an
/// <see cref="OpenAiChatClient"/> with a cache answers a repeated caption from its cache).
/// </summary>
/// <remarks>
/// Never throws for model trouble: a failed call (<see cref="ChatModelException"/>, after the
/// client's own retries) or an unreadable reply is a <see cref="ClaimExtraction"/> with a cause and
/// a reason. Only null arguments and cancellation throw.
/// </remarks>
public sealed class ClaimExtractor
{
    private readonly IChatModel _model;
    private readonly int _maxTokens;

    /// <summary>Creates an extractor that asks <paramref name="model"/> for at most <paramref name="maxTokens"/> tokens.</summary>
    public ClaimExtractor(IChatModel model, int maxTokens = 512)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        _model = model;
        _maxTokens = maxTokens;
    }

    /// <summary>The extractor model's name.</summary>
    public string ModelName => _model.ModelName;

    /// <summary>Extracts the claims of <paramref name="caption"/>.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<ClaimExtraction> ExtractAsync(string caption, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(caption);
        cancellationToken.ThrowIfCancellationRequested();
        if (string.IsNullOrWhiteSpace(caption))
        {
            return new ClaimExtraction([], null, UnjudgedCause.EmptyCaption, "empty caption");
        }
        ChatReply reply;
        try
        {
            reply = await _model.CompleteAsync(
                new ChatRequest([ChatMessage.User(ClaimExtractionPrompt.Build(caption))], Temperature: 0, MaxTokens: _maxTokens),
                cancellationToken).ConfigureAwait(false);
        }
        catch (ChatModelException e)
        {
            return new ClaimExtraction([], null, UnjudgedCause.ExtractorFailed, "extractor failed: " + e.Message);
        }
        return ClaimExtractionPrompt.Parse(reply.Text, out var claims, out var reason)
            ? new ClaimExtraction(claims, reply.Text, null, null)
            : new ClaimExtraction([], reply.Text, UnjudgedCause.ClaimsUnparseable, "claims unparseable: " + reason);
    }
}
