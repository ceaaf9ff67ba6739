using System.Globalization;

namespace SynthVlm.Recaptioning.Prompts;

/// <summary>
/// A captioning instruction: a preset's name, its version (bumped whenever the text changes, so captions made with
/// different wordings are told apart) and its text. Every caption records the prompt it was made with.
/// </summary>
/// <param name="Name">The preset's name (<c>brief</c>, <c>detailed</c>, <c>knowledge-rich</c>) or a custom name.</param>
/// <param name="Version">The text's version.</param>
/// <param name="Text">The instruction shown with the image.</param>
public sealed record CaptionPrompt(string Name, int Version, string Text)
{
    /// <summary>One or two sentences on the main subject: alt-text replacement for short-caption pools.</summary>
    public static CaptionPrompt Brief { get; } = new("brief", 1,
        "Describe this image in one or two sentences. Mention the main subject and the setting. Do not describe anything you cannot see.");

    /// <summary>A paragraph on objects, attributes, counts, positions and visible text (dense captions for pre-training).</summary>
    public static CaptionPrompt Detailed { get; } = new("detailed", 1,
        "Describe this image in detail: the main objects with their colours, sizes, counts and positions, the background, "
        + "any visible text, and the overall scene. Describe only what is visible; do not guess what is not shown.");

    /// <summary>A detailed caption that also names recognisable entities (landmarks, species, brands, artworks) when certain.</summary>
    public static CaptionPrompt KnowledgeRich { get; } = new("knowledge-rich", 1,
        "Describe this image in detail. Where you can recognise them with certainty, name specific entities such as "
        + "landmarks, species, brands, artworks or well-known people, and add a short fact that helps identify them. "
        + "Describe only what is visible; if you are unsure of a name, describe the thing instead of guessing.");

    /// <summary>The presets by name.</summary>
    public static IReadOnlyList<CaptionPrompt> Presets { get; } = [Brief, Detailed, KnowledgeRich];

    /// <summary>The preset called <paramref name="name"/> (case-insensitive; <c>knowledge_rich</c> and <c>knowledge</c> too).</summary>
    /// <exception cref="ArgumentException">No preset has that name; the message lists them.</exception>
    public static CaptionPrompt Preset(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var normal = name.Trim().ToLowerInvariant().Replace('_', '-');
        if (normal == "knowledge")
        {
            normal = KnowledgeRich.Name;
        }
        return Presets.FirstOrDefault(p => p.Name == normal)
            ?? throw new ArgumentException($"unknown prompt preset '{name}'; expected one of {string.Join(", ", Presets.Select(p => p.Name))}.", nameof(name));
    }

    /// <summary>A prompt of the caller's own wording, recorded as <c>custom</c> version 1 with its full text.</summary>
    /// <exception cref="ArgumentException">The text is empty.</exception>
    public static CaptionPrompt Custom(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        return new("custom", 1, text.Trim());
    }

    /// <summary>The text sent: <see cref="Text"/>, plus "Use at most N words." when a word limit is set.</summary>
    public string Render(int? maxWords) =>
        maxWords is { } words ? string.Create(CultureInfo.InvariantCulture, $"{Text} Use at most {words} words.") : Text;
}
