using System.Text.RegularExpressions;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// The rule-based answer matching of VLMEvalKit (<c>vlmeval/utils/matching_util.py</c>,
/// <c>can_infer</c>), which MMBench's evaluation runs before (or, with no judge, instead of) its
/// ChatGPT extraction. It reads an option letter first, then an option's text:
/// <list type="number">
/// <item>An answer containing "Failed to obtain answer via API" has no letter (the option-text step still runs).</item>
/// <item>An answer containing one of four refusal sentences ("Cannot determine the answer", ...) is <c>Z</c>.</item>
/// <item>The characters <c>.()[],:;!*#{}</c> become spaces and the answer is split on whitespace. If exactly
/// one option letter appears as a word, it is the answer provided its first occurrence is among the last four
/// words (quirk: "A cat is on the mat, so B" has the word "A" too, so two letters appear and this step fails).</item>
/// <item>If no letter appears but the word <c>Z</c> does, the answer is <c>Z</c>.</item>
/// <item>Otherwise, "answer is X" (case-insensitive, optionally "correct answer is **X**") with X one of A–D (either
/// case, quirk: "the answer is a cat" reads as A) and X an option, is X.</item>
/// <item>Otherwise the option-text step: the lower-cased answer, when it is at most twice as long as all option
/// texts together, names the option whose lower-cased text it contains, if exactly one does.</item>
/// </list>
/// The <c>VERBOSE</c> environment variable of the official code (which rejects a lone "A" in answers longer than
/// three words) is taken as unset.
/// </summary>
public static partial class MultipleChoiceAnswer
{
    private const string PythonSpace = @"[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

    private static readonly string[] Refusals =
    [
        "Sorry, I can't help with images of people yet.",
        "I can't process this file.",
        "I'm sorry, but without the image provided",
        "Cannot determine the answer",
    ];

    /// <summary>
    /// The option an answer names: an option letter, 'Z' (the answer refuses or names no option, which never
    /// matches a ground truth), or null (nothing could be read; without a judge that counts as wrong).
    /// </summary>
    /// <param name="answer">The model's answer text.</param>
    /// <param name="choices">The options in letter order (letter, text), only those present.</param>
    public static char? Infer(string answer, IReadOnlyList<KeyValuePair<char, string>> choices)
    {
        ArgumentNullException.ThrowIfNull(answer);
        ArgumentNullException.ThrowIfNull(choices);
        return InferOption(answer, choices) ?? InferText(answer, choices);
    }

    /// <summary>The option-letter step alone (<c>can_infer_option</c>).</summary>
    public static char? InferOption(string answer, IReadOnlyList<KeyValuePair<char, string>> choices)
    {
        ArgumentNullException.ThrowIfNull(answer);
        ArgumentNullException.ThrowIfNull(choices);
        if (answer.Contains("Failed to obtain answer via API", StringComparison.Ordinal))
        {
            return null;
        }
        foreach (var refusal in Refusals)
        {
            if (answer.Contains(refusal, StringComparison.Ordinal))
            {
                return 'Z';
            }
        }
        var chars = answer.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (chars[i] is '.' or '(' or ')' or '[' or ']' or ',' or ':' or ';' or '!' or '*' or '#' or '{' or '}')
            {
                chars[i] = ' ';
            }
        }
        var splits = PythonText.Split(new string(chars));
        var count = choices.Count(c => splits.Contains(c.Key.ToString(), StringComparer.Ordinal));
        if (count == 1)
        {
            foreach (var (letter, _) in choices)
            {
                var at = splits.IndexOf(letter.ToString());
                if (at >= 0 && at > splits.Count - 5)
                {
                    return letter;
                }
            }
        }
        else if (count == 0 && splits.Contains("Z", StringComparer.Ordinal))
        {
            return 'Z';
        }
        var match = VerboseAnswer().Match(answer);
        if (match.Success)
        {
            var letter = char.ToUpperInvariant(match.Groups[1].Value[0]);
            if (choices.Any(c => c.Key == letter))
            {
                return letter;
            }
        }
        return null;
    }

    /// <summary>The option-text step alone (<c>can_infer_text</c>).</summary>
    public static char? InferText(string answer, IReadOnlyList<KeyValuePair<char, string>> choices)
    {
        ArgumentNullException.ThrowIfNull(answer);
        ArgumentNullException.ThrowIfNull(choices);
        var lower = PythonText.Lower(answer);
        var total = choices.Sum(c => PythonText.Length(c.Value));
        if (PythonText.Length(lower) > 2 * total)
        {
            return null;
        }
        char? found = null;
        var candidates = 0;
        foreach (var (letter, text) in choices)
        {
            if (lower.Contains(PythonText.Lower(text), StringComparison.Ordinal))
            {
                found = letter;
                candidates++;
            }
        }
        return candidates == 1 ? found : null;
    }

    // Python's re.IGNORECASE also folds İ and ı onto i and ſ onto s; written out so .NET matches the same strings.
    [GeneratedRegex("[aA][nN][sS\u017f][wW][eE][rR]" + PythonSpace + "+[iI\u0130\u0131][sS\u017f]" + PythonSpace + @"+\**([ABCDabcd])")]
    private static partial Regex VerboseAnswer();
}
