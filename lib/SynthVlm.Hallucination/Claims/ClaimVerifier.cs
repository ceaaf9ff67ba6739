using SynthVlm.ChatEndpoints;

namespace SynthVlm.Hallucination.Claims;

/// <summary>
/// Checks one claim against its image with a vision-language model and the
/// <see cref="ClaimVerificationPrompt"/> (the image, then the question, temperature 0, so a cached
/// <see cref="OpenAiChatClient"/> answers a repeated (image, claim) from its cache).
/// </summary>
/// <remarks>
/// Never throws for model trouble: a failed call (an unreadable image, an endpoint that gave up) or
/// an unparseable reply is a <see cref="ClaimVerdict.Unjudged"/> check with its reason. Only null
/// arguments and cancellation throw.
/// </remarks>
public sealed class ClaimVerifier
{
    private readonly IChatModel _model;
    private readonly int _maxTokens;

    /// <summary>Creates a verifier that asks <paramref name="model"/> for at most <paramref name="maxTokens"/> tokens.</summary>
    public ClaimVerifier(IChatModel model, int maxTokens = 8)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        _model = model;
        _maxTokens = maxTokens;
    }

    /// <summary>The verifier model's name.</summary>
    public string ModelName => _model.ModelName;

    /// <summary>Checks <paramref name="claim"/> against the image at <paramref name="imagePath"/>.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<ClaimCheck> VerifyAsync(string imagePath, string claim, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(imagePath);
        ArgumentNullException.ThrowIfNull(claim);
        cancellationToken.ThrowIfCancellationRequested();
        ChatReply reply;
        try
        {
            reply = await _model.CompleteAsync(
                new ChatRequest([ChatMessage.User(ClaimVerificationPrompt.Build(claim), imagePath)], Temperature: 0, MaxTokens: _maxTokens),
                cancellationToken).ConfigureAwait(false);
        }
        catch (ChatModelException e)
        {
            return new ClaimCheck(claim, ClaimVerdict.Unjudged, null, "verifier failed: " + e.Message);
        }
        var verdict = ClaimVerificationPrompt.Parse(reply.Text, out var reason);
        return new ClaimCheck(claim, verdict, reply.Text, reason);
    }
}
