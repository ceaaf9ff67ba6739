using System.Text;

namespace SynthVlm.Vlm.Prompts;

/// <summary>How a template joins its turns (LLaVA's <c>SeparatorStyle</c>, the two SynthVlm uses).</summary>
public enum SeparatorStyle
{
    /// <summary><c>PLAIN</c>: image then answer then separator, no roles (pre-training).</summary>
    Plain,

    /// <summary><c>TWO</c>: system, then "ROLE: message" with <c>Sep</c> after a user turn and <c>Sep2</c> after an assistant turn.</summary>
    Two,
}

/// <summary>
/// A LLaVA conversation template (llava/conversation.py): <see cref="Plain"/> for stage 1 and
/// <see cref="VicunaV1"/> for stage 2 and generation. Each is named once here and referenced everywhere.
/// </summary>
/// <param name="Name">The name LLaVA's <c>conv_templates</c> uses ("plain", "vicuna_v1").</param>
/// <param name="Style">How turns are joined.</param>
/// <param name="System">The system prompt (empty for plain).</param>
/// <param name="UserRole">The user role ("USER").</param>
/// <param name="AssistantRole">The assistant role ("ASSISTANT").</param>
/// <param name="Sep">The separator after a user turn (and after the system prompt); plain's only separator.</param>
/// <param name="Sep2">The separator after an assistant turn (the EOS token for vicuna_v1); null for plain.</param>
public sealed record ConversationTemplate(
    string Name,
    SeparatorStyle Style,
    string System,
    string UserRole,
    string AssistantRole,
    string Sep,
    string? Sep2)
{
    /// <summary>LLaVA's <c>conv_llava_plain</c>: "&lt;image&gt;" + answer + "\n".</summary>
    public static ConversationTemplate Plain { get; } = new("plain", SeparatorStyle.Plain, "", "", "", "\n", null);

    /// <summary>LLaVA's <c>conv_vicuna_v1</c> (LLaVA-1.5's stage 2 and evaluation).</summary>
    public static ConversationTemplate VicunaV1 { get; } = new(
        "vicuna_v1",
        SeparatorStyle.Two,
        "A chat between a curious user and an artificial intelligence assistant. "
        + "The assistant gives helpful, detailed, and polite answers to the user's questions.",
        "USER",
        "ASSISTANT",
        " ",
        "</s>");

    /// <summary>The templates by name.</summary>
    public static IReadOnlyList<ConversationTemplate> All { get; } = [Plain, VicunaV1];

    /// <summary>The template called <paramref name="name"/> ("plain", "vicuna_v1").</summary>
    /// <exception cref="ArgumentException">No template has that name; the message lists the known ones.</exception>
    public static ConversationTemplate FromName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return All.FirstOrDefault(t => t.Name == name)
            ?? throw new ArgumentException($"Unknown conversation template '{name}'; expected one of {string.Join(", ", All.Select(t => t.Name))}.", nameof(name));
    }

    /// <summary>
    /// The prompt of a <see cref="SeparatorStyle.Two"/> conversation (<c>Conversation.get_prompt</c>):
    /// system + Sep, then per turn i "role: message" + (Sep when i is even, Sep2 when odd);
    /// a turn with a null or empty message gives "role:" (the generation prompt).
    /// </summary>
    /// <exception cref="InvalidOperationException">The template is not <see cref="SeparatorStyle.Two"/>.</exception>
    public string GetPrompt(IReadOnlyList<(string Role, string? Message)> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (Style != SeparatorStyle.Two)
        {
            throw new InvalidOperationException($"Template '{Name}' has no role prompt; only SeparatorStyle.Two templates do.");
        }
        var text = new StringBuilder(System).Append(Sep);
        for (var i = 0; i < messages.Count; i++)
        {
            var (role, message) = messages[i];
            if (string.IsNullOrEmpty(message))
            {
                text.Append(role).Append(':');
            }
            else
            {
                text.Append(role).Append(": ").Append(message).Append(i % 2 == 0 ? Sep : Sep2);
            }
        }
        return text.ToString();
    }
}
