using System.Text.Json;
using System.Text.RegularExpressions;

namespace SynthVlm.Hallucination.Claims;

/// <summary>
/// The versioned prompt that asks a language model to split a caption into atomic claims, and the
/// parser for its reply.
/// </summary>
/// <remarks>
/// <para>
/// <b>Recipe.</b> As in RLAIF-V's "divide" step (github.com/RLHF-V/RLAIF-V,
/// <c>utils/llama3_8b_inference.py</c>), a text-only model rewrites what the answer asserts as
/// self-contained sentences, opinions left out, one per bulleted line. RLAIF-V then has a second
/// model turn each sentence into a yes/no question; SynthVlm asks the verifier about the sentence
/// directly (<see cref="ClaimVerificationPrompt"/>), which saves a model call per caption. The
/// wording is SynthVlm's own; changing it means bumping <see cref="Version"/> (the text is part of
/// every cached request, so cached replies of the old wording are not reused).
/// </para>
/// <para>
/// <b>Parsing</b> (<see cref="Parse"/>) accepts what models actually send: a JSON array of strings
/// or an object with a <c>claims</c> or <c>facts</c> array (inside a <c>```</c> fence or not), or
/// lines marked <c>-</c>, <c>*</c>, <c>•</c>, <c>+</c>, <c>1.</c>, <c>1)</c> or <c>(1)</c>.
/// Unmarked lines (a heading such as "### Claims:", a preamble) are skipped when at least one
/// marked line exists; a reply with none is unparseable. Markdown bold and wrapping quotes are
/// stripped; repeated claims (case-insensitive) are kept once, so one fact said twice cannot be
/// rejected twice. RLAIF-V's own parser instead drops the first character of every line not
/// containing <c>###</c>; SynthVlm does not reproduce that, as it claims no parity with it.
/// </para>
/// </remarks>
public static partial class ClaimExtractionPrompt
{
    /// <summary>The prompt's version, recorded with every judgement.</summary>
    public const string Version = "synthvlm-claims-v1";

    /// <summary>The answer meaning "the caption asserts nothing".</summary>
    public const string NoneAnswer = "NONE";

    /// <summary>The user message; <c>{caption}</c> is replaced by the caption.</summary>
    public const string Template =
        "You prepare image captions for fact-checking against their image.\n\n" +
        "Caption: \"{caption}\"\n\n" +
        "Rewrite everything the caption asserts about the image as a list of short, self-contained sentences, " +
        "each stating exactly one fact: one object, one attribute, one count, one action, one spatial relation, " +
        "one piece of visible text, or one piece of background knowledge. Replace pronouns by what they refer to, " +
        "so that every sentence can be checked on its own. Leave out opinions, feelings and remarks about the caption itself.\n\n" +
        "Answer with the list only, one sentence per line, each line starting with \"- \". " +
        "If the caption asserts nothing about the image, answer " + NoneAnswer + ".";

    /// <summary>How many characters of an unreadable reply go into a reason.</summary>
    public const int ExcerptLength = 80;

    /// <summary>The user message for <paramref name="caption"/>.</summary>
    public static string Build(string caption)
    {
        ArgumentNullException.ThrowIfNull(caption);
        return Template.Replace("{caption}", caption, StringComparison.Ordinal);
    }

    /// <summary>
    /// Reads a reply into claims (see remarks). Returns false with <paramref name="reason"/> set when
    /// the reply is not a list; returns true with an empty list for <see cref="NoneAnswer"/> or an
    /// empty JSON array.
    /// </summary>
    public static bool Parse(string? reply, out IReadOnlyList<string> claims, out string? reason)
    {
        claims = [];
        if (string.IsNullOrWhiteSpace(reply))
        {
            reason = "empty answer";
            return false;
        }
        var text = Unfence(reply.Trim());
        if (text.Trim('.', ' ', '"', '*', '-').Equals(NoneAnswer, StringComparison.OrdinalIgnoreCase))
        {
            reason = null;
            return true;
        }
        if (text.StartsWith('[') || text.StartsWith('{'))
        {
            if (TryParseJson(text, out var fromJson, out var jsonProblem))
            {
                claims = Clean(fromJson);
                reason = null;
                return true;
            }
            if (jsonProblem is not null)
            {
                reason = jsonProblem + ": " + Excerpt(reply);
                return false;
            }
        }
        var items = new List<string>();
        foreach (var raw in text.Split('\n'))
        {
            var match = ListItem().Match(raw.Trim());
            if (match.Success)
            {
                items.Add(match.Groups["text"].Value);
            }
        }
        if (items.Count == 0)
        {
            reason = "not a list of claims: " + Excerpt(reply);
            return false;
        }
        claims = Clean(items);
        reason = null;
        return true;
    }

    /// <summary>At most <see cref="ExcerptLength"/> characters of <paramref name="text"/>, never ending inside a surrogate pair.</summary>
    internal static string Excerpt(string text)
    {
        text = text.ReplaceLineEndings(" ");
        if (text.Length <= ExcerptLength)
        {
            return text;
        }
        var cut = char.IsHighSurrogate(text[ExcerptLength - 1]) ? ExcerptLength - 1 : ExcerptLength;
        return text[..cut] + "…";
    }

    private static string Unfence(string text)
    {
        if (!text.StartsWith("```", StringComparison.Ordinal))
        {
            return text;
        }
        var firstLineEnd = text.IndexOf('\n', StringComparison.Ordinal);
        if (firstLineEnd < 0)
        {
            return text;
        }
        var body = text[(firstLineEnd + 1)..];
        var close = body.LastIndexOf("```", StringComparison.Ordinal);
        return (close >= 0 ? body[..close] : body).Trim();
    }

    // True with the strings of a JSON list; false with a problem when the text is JSON of the wrong
    // shape; false with no problem when it is not JSON at all (then the line parser gets a try).
    private static bool TryParseJson(string text, out List<string> items, out string? problem)
    {
        items = [];
        problem = null;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text);
        }
        catch (JsonException)
        {
            return false;
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                var found = false;
                foreach (var name in (ReadOnlySpan<string>)["claims", "facts"])
                {
                    if (root.TryGetProperty(name, out var list))
                    {
                        root = list;
                        found = true;
                        break;
                    }
                }
                if (!found)
                {
                    problem = "JSON object without a \"claims\" or \"facts\" array";
                    return false;
                }
            }
            if (root.ValueKind != JsonValueKind.Array)
            {
                problem = $"JSON claims are a {root.ValueKind}, expected an array of strings";
                return false;
            }
            foreach (var element in root.EnumerateArray())
            {
                if (element.ValueKind != JsonValueKind.String)
                {
                    problem = $"JSON claims hold a {element.ValueKind}, expected strings";
                    return false;
                }
                items.Add(element.GetString()!);
            }
            return true;
        }
    }

    private static List<string> Clean(IEnumerable<string> items)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var claims = new List<string>();
        foreach (var item in items)
        {
            var claim = item.Trim();
            if (claim.StartsWith("**", StringComparison.Ordinal) && claim.EndsWith("**", StringComparison.Ordinal) && claim.Length >= 4)
            {
                claim = claim[2..^2].Trim();
            }
            if (claim.Length >= 2 && claim[0] == '"' && claim[^1] == '"')
            {
                claim = claim[1..^1].Trim();
            }
            if (claim.Length > 0 && !claim.Equals(NoneAnswer, StringComparison.OrdinalIgnoreCase) && seen.Add(claim))
            {
                claims.Add(claim);
            }
        }
        return claims;
    }

    [GeneratedRegex(@"^(?:[-*•+]|\(?\d{1,3}[.)])\s+(?<text>\S.*)$", RegexOptions.CultureInvariant, 1000)]
    private static partial Regex ListItem();
}
