namespace SynthVlm.Recaptioning.Prompts;

/// <summary>How long captions may be.</summary>
/// <param name="MaxTokens">The most tokens the captioner may generate (the request's <c>max_tokens</c>).</param>
/// <param name="MaxWords">A word limit stated in the prompt ("Use at most N words."), or null for none.</param>
/// <param name="TrimToSentence">
/// Whether a caption that runs past <paramref name="MaxWords"/> or stops mid-sentence (cut by
/// <paramref name="MaxTokens"/>) is trimmed back to its last complete sentence; a caption with no complete sentence
/// is kept as it is (trimming would leave nothing).
/// </param>
public sealed record LengthControl(int MaxTokens = 256, int? MaxWords = null, bool TrimToSentence = false)
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first unusable setting.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxTokens, 1, nameof(MaxTokens));
        if (MaxWords is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxWords), MaxWords, "MaxWords must be at least 1 (or null for no limit).");
        }
    }
}

/// <summary>Cleans a captioner's reply into a caption.</summary>
public static class CaptionText
{
    /// <summary>
    /// The reply trimmed of surrounding whitespace, then (when <see cref="LengthControl.TrimToSentence"/>) cut to at
    /// most <see cref="LengthControl.MaxWords"/> words and back to the last sentence end ('.', '!', '?', possibly
    /// followed by a closing quote or bracket) if it does not end at one.
    /// </summary>
    /// <param name="reply">The captioner's text.</param>
    /// <param name="length">The length settings.</param>
    /// <param name="trimmed">Whether anything but whitespace was removed.</param>
    /// <returns>The caption; empty when the reply was empty or whitespace.</returns>
    public static string Clean(string reply, LengthControl length, out bool trimmed)
    {
        ArgumentNullException.ThrowIfNull(reply);
        ArgumentNullException.ThrowIfNull(length);
        var text = reply.Trim();
        trimmed = false;
        if (!length.TrimToSentence || text.Length == 0)
        {
            return text;
        }
        var cut = text;
        if (length.MaxWords is { } maxWords)
        {
            var words = 0;
            var inWord = false;
            for (var i = 0; i < cut.Length; i++)
            {
                var space = char.IsWhiteSpace(cut[i]);
                if (!space && !inWord && ++words > maxWords)
                {
                    cut = cut[..i].TrimEnd();
                    break;
                }
                inWord = !space;
            }
        }
        var end = LastSentenceEnd(cut);
        if (end > 0 && end < cut.Length)
        {
            cut = cut[..end];
        }
        cut = cut.TrimEnd();
        trimmed = cut.Length != text.Length;
        return cut;
    }

    private static int LastSentenceEnd(string text)
    {
        for (var i = text.Length - 1; i >= 0; i--)
        {
            if (text[i] is '.' or '!' or '?')
            {
                var end = i + 1;
                while (end < text.Length && text[end] is '"' or '\'' or ')' or ']' or '\u201D' or '\u2019')
                {
                    end++;
                }
                if (end == text.Length || char.IsWhiteSpace(text[end]))
                {
                    return end;
                }
            }
        }
        return 0;
    }
}
