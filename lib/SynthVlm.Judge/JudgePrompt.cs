using System.Globalization;

namespace SynthVlm.Judge;

/// <summary>
/// The yes/no question put to the judge model, and how its answer is read.
/// </summary>
/// <remarks>
/// <para>
/// <b>Our wording.</b> The SynthVLM paper's appendix describes an LLM asked for a yes/no
/// judgement of whether a caption is a good, detailed description worth synthesising an image
/// from; its exact text could not be retrieved when this was written, so <see cref="Template"/>
/// is SynthVlm's own faithful rendering of that question, not a quotation. Replacing it with
/// the appendix's text means bumping <see cref="Version"/>, which also invalidates cached verdicts.
/// </para>
/// <para>
/// An answer counts when its first word, case-insensitive and stripped of surrounding
/// punctuation, is <c>yes</c> or <c>no</c> ("Yes.", "**No**", "yes, it is" all count); anything
/// else is recorded as <c>unparseable: &lt;first 80 characters&gt;</c>.
/// </para>
/// </remarks>
public static class JudgePrompt
{
    /// <summary>Part of every cache key: change it whenever <see cref="Template"/> changes.</summary>
    public const string Version = "synthvlm-caption-judge/v1 (our wording)";

    /// <summary>The user message; <c>{caption}</c> is replaced by the caption.</summary>
    public const string Template =
        "You are screening captions for a vision-language pre-training dataset. Each caption you accept " +
        "will be turned into a picture by a text-to-image model, and the picture and caption will then " +
        "teach a model to describe images.\n\n" +
        "Caption: \"{caption}\"\n\n" +
        "Is this caption a high-quality, detailed description of something that can be seen in a single " +
        "image: concrete objects, their attributes, actions and setting, written fluently, and free of " +
        "spam, links, boilerplate or content that cannot be depicted? Answer with one word: yes or no.";

    /// <summary>How many characters of an unreadable answer go into its <see cref="JudgeVerdict.Reason"/>.</summary>
    public const int UnparseableExcerptLength = 80;

    /// <summary>The user message for <paramref name="caption"/>.</summary>
    public static string Build(string caption)
    {
        ArgumentNullException.ThrowIfNull(caption);
        return Template.Replace("{caption}", caption, StringComparison.Ordinal);
    }

    /// <summary>
    /// Reads a reply: <see cref="JudgeOutcome.Yes"/> or <see cref="JudgeOutcome.No"/> from its first
    /// word, else <see cref="JudgeOutcome.Failed"/> with <paramref name="reason"/> set to
    /// <c>unparseable: &lt;first 80 characters&gt;</c>.
    /// </summary>
    public static JudgeOutcome ParseAnswer(string? answer, out string? reason)
    {
        var word = FirstWord(answer.AsSpan());
        if (word.Equals("yes", StringComparison.OrdinalIgnoreCase))
        {
            reason = null;
            return JudgeOutcome.Yes;
        }
        if (word.Equals("no", StringComparison.OrdinalIgnoreCase))
        {
            reason = null;
            return JudgeOutcome.No;
        }
        reason = "unparseable: " + Excerpt(answer ?? string.Empty, UnparseableExcerptLength);
        return JudgeOutcome.Failed;
    }

    /// <summary>At most <paramref name="max"/> characters of <paramref name="text"/>, never ending inside a surrogate pair.</summary>
    internal static string Excerpt(string text, int max)
    {
        if (text.Length <= max)
        {
            return text;
        }
        var cut = char.IsHighSurrogate(text[max - 1]) ? max - 1 : max;
        return text[..cut];
    }

    private static ReadOnlySpan<char> FirstWord(ReadOnlySpan<char> text)
    {
        text = text.TrimStart();
        var end = 0;
        while (end < text.Length && !char.IsWhiteSpace(text[end]))
        {
            end++;
        }
        var word = text[..end];
        var start = 0;
        while (start < word.Length && IsStripped(word[start]))
        {
            start++;
        }
        var stop = word.Length;
        while (stop > start && IsStripped(word[stop - 1]))
        {
            stop--;
        }
        return word[start..stop];
    }

    // Markdown emphasis (*, _) and quotes are Unicode punctuation; backticks and the like are
    // symbols. Both are wrapping, not content, in a one-word answer.
    private static bool IsStripped(char c) => CharUnicodeInfo.GetUnicodeCategory(c) switch
    {
        UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
            or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation
            or UnicodeCategory.ModifierSymbol or UnicodeCategory.MathSymbol => true,
        _ => false,
    };
}
