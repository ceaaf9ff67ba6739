using System.Collections.Frozen;
using System.Text;

namespace SynthVlm.Curation.Cleaning;

/// <summary>
/// Data-Juicer's punctuation_normalization_mapper (from BigScience's data preparation): each
/// character of a fixed table becomes its ASCII counterpart. Quirks kept: the fullwidth digit
/// "１" (U+FF11) becomes a double quote, "—" (em dash) becomes " - " with spaces, "．" becomes
/// ". " and "…" becomes "...". Nothing else changes (other fullwidth forms are fix_unicode's job).
/// </summary>
public sealed class PunctuationNormalizationMapper : CaptionMapper
{
    private static readonly FrozenDictionary<char, string> Table = new Dictionary<char, string>
    {
        ['，'] = ",", ['。'] = ".", ['、'] = ",", ['„'] = "\"", ['”'] = "\"", ['“'] = "\"", ['«'] = "\"",
        ['»'] = "\"", ['１'] = "\"", ['」'] = "\"", ['「'] = "\"", ['《'] = "\"", ['》'] = "\"", ['´'] = "'",
        ['∶'] = ":", ['：'] = ":", ['？'] = "?", ['！'] = "!", ['（'] = "(", ['）'] = ")", ['；'] = ";",
        ['–'] = "-", ['—'] = " - ", ['．'] = ". ", ['～'] = "~", ['’'] = "'", ['…'] = "...", ['━'] = "-",
        ['〈'] = "<", ['〉'] = ">", ['【'] = "[", ['】'] = "]", ['％'] = "%", ['►'] = "-",
    }.ToFrozenDictionary();

    /// <inheritdoc />
    public override string Name => "punctuation_normalization_mapper";

    /// <inheritdoc />
    public override string Apply(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        StringBuilder? output = null;
        for (var i = 0; i < text.Length; i++)
        {
            if (Table.TryGetValue(text[i], out var replacement))
            {
                output ??= new StringBuilder(text.Length + 8).Append(text, 0, i);
                output.Append(replacement);
            }
            else
            {
                output?.Append(text[i]);
            }
        }
        return output?.ToString() ?? text;
    }
}
