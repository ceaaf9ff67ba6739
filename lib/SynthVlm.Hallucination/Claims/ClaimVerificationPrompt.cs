using System.Globalization;

namespace SynthVlm.Hallucination.Claims;

/// <summary>
/// The versioned prompt that shows a vision-language model the image and one claim and asks
/// whether the claim holds, and the parser for its one-word reply.
/// </summary>
/// <remarks>
/// <para>
/// RLAIF-V's "conquer" step asks the VLM a yes/no question per claim and compares the probabilities
/// of the first tokens <c>yes</c>/<c>Yes</c> and <c>no</c>/<c>No</c>, a claim counting as correct
/// only when yes is more likely (so a tie rejects it). An OpenAI-compatible endpoint gives text, not
/// those probabilities, so SynthVlm reads the answer's first word and also offers <c>unsure</c>
/// for what the image cannot settle (background knowledge, text too small to read); whether unsure
/// counts as rejected is <see cref="ClaimJudgeOptions.UnsureCountsAsRejected"/>.
/// </para>
/// <para>
/// The first word, case-insensitive and stripped of surrounding punctuation and markdown, decides:
/// <c>yes</c> → <see cref="ClaimVerdict.Supported"/>, <c>no</c> → <see cref="ClaimVerdict.Rejected"/>,
/// <c>unsure</c>, <c>uncertain</c>, <c>unclear</c>, <c>unknown</c> or "not sure" →
/// <see cref="ClaimVerdict.Unsure"/>; anything else is unparseable.
/// </para>
/// </remarks>
public static class ClaimVerificationPrompt
{
    /// <summary>The prompt's version, recorded with every judgement.</summary>
    public const string Version = "synthvlm-claim-check-v1";

    /// <summary>The user message (sent with the image); <c>{claim}</c> is replaced by the claim.</summary>
    public const string Template =
        "Look carefully at the image and check one statement about it.\n\n" +
        "Statement: \"{claim}\"\n\n" +
        "Answer with one word: yes if the image shows the statement is true, no if the image shows it is false " +
        "or what it describes is not in the image, unsure if the image cannot settle it.";

    private static readonly string[] UnsureWords = ["unsure", "uncertain", "unclear", "unknown"];

    /// <summary>The user message for <paramref name="claim"/>.</summary>
    public static string Build(string claim)
    {
        ArgumentNullException.ThrowIfNull(claim);
        return Template.Replace("{claim}", claim, StringComparison.Ordinal);
    }

    /// <summary>
    /// Reads a reply (see remarks); <see cref="ClaimVerdict.Unjudged"/> with <paramref name="reason"/>
    /// set to <c>unparseable verdict: …</c> when it is none of the accepted words.
    /// </summary>
    public static ClaimVerdict Parse(string? reply, out string? reason)
    {
        var text = (reply ?? string.Empty).AsSpan().TrimStart();
        var first = Strip(NextWord(ref text));
        reason = null;
        if (first.Equals("yes", StringComparison.OrdinalIgnoreCase))
        {
            return ClaimVerdict.Supported;
        }
        if (first.Equals("no", StringComparison.OrdinalIgnoreCase))
        {
            return ClaimVerdict.Rejected;
        }
        foreach (var word in UnsureWords)
        {
            if (first.Equals(word, StringComparison.OrdinalIgnoreCase))
            {
                return ClaimVerdict.Unsure;
            }
        }
        if (first.Equals("not", StringComparison.OrdinalIgnoreCase) && Strip(NextWord(ref text)).Equals("sure", StringComparison.OrdinalIgnoreCase))
        {
            return ClaimVerdict.Unsure;
        }
        reason = string.IsNullOrWhiteSpace(reply) ? "unparseable verdict: empty answer" : "unparseable verdict: " + ClaimExtractionPrompt.Excerpt(reply);
        return ClaimVerdict.Unjudged;
    }

    private static ReadOnlySpan<char> NextWord(ref ReadOnlySpan<char> text)
    {
        text = text.TrimStart();
        var end = 0;
        while (end < text.Length && !char.IsWhiteSpace(text[end]))
        {
            end++;
        }
        var word = text[..end];
        text = text[end..];
        return word;
    }

    private static ReadOnlySpan<char> Strip(ReadOnlySpan<char> word)
    {
        var start = 0;
        while (start < word.Length && IsWrapping(word[start]))
        {
            start++;
        }
        var stop = word.Length;
        while (stop > start && IsWrapping(word[stop - 1]))
        {
            stop--;
        }
        return word[start..stop];
    }

    // Markdown emphasis, quotes and sentence punctuation wrap a one-word answer; they are not content.
    private static bool IsWrapping(char c) => CharUnicodeInfo.GetUnicodeCategory(c) switch
    {
        UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
            or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation
            or UnicodeCategory.ModifierSymbol or UnicodeCategory.MathSymbol => true,
        _ => false,
    };
}
