using System.Text;

namespace SynthVlm.Curation.Cleaning;

/// <summary>
/// Data-Juicer's whitespace_normalization_mapper: Python's str.strip() first, then each character
/// of Data-Juicer's VARIOUS_WHITESPACES set becomes one ASCII space. Quirks kept, as Data-Juicer
/// has them: runs are not collapsed ("a\u3000\u3000b" gives "a  b"); newlines are not in the set
/// (an inner "\n" stays); the set holds U+0084 rather than NEL U+0085; zero-width characters
/// (U+200B–U+200D, U+2060) and U+FFFC are in the set but not stripped by str.strip(), so one at an
/// end becomes a trailing or leading space.
/// </summary>
public sealed class WhitespaceNormalizationMapper : CaptionMapper
{
    /// <summary>Data-Juicer's VARIOUS_WHITESPACES.</summary>
    public static IReadOnlyList<char> VariousWhitespaces { get; } =
    [
        '\u0009', '\u0020', '\u0084', '\u00A0', '\u2000', '\u2001', '\u2002', '\u2003', '\u2004', '\u2005', '\u2006',
        '\u2007', '\u2008', '\u2009', '\u200A', '\u200B', '\u200C', '\u200D', '\u202F', '\u205F', '\u2060', '\u3000', '\uFFFC',
    ];

    /// <inheritdoc />
    public override string Name => "whitespace_normalization_mapper";

    /// <inheritdoc />
    public override string Apply(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var start = 0;
        var end = text.Length;
        // Python's whitespace is all in the BMP, so UTF-16 units are code points here.
        while (start < end && PythonText.IsSpace(text[start]))
        {
            start++;
        }
        while (end > start && PythonText.IsSpace(text[end - 1]))
        {
            end--;
        }
        var output = new StringBuilder(end - start);
        for (var i = start; i < end; i++)
        {
            var c = text[i];
            output.Append(IsVariousWhitespace(c) ? ' ' : c);
        }
        var result = output.ToString();
        return string.Equals(result, text, StringComparison.Ordinal) ? text : result;
    }

    private static bool IsVariousWhitespace(char c) => c switch
    {
        '\u0009' or '\u0020' or '\u0084' or '\u00A0' or (>= '\u2000' and <= '\u200D') or '\u202F' or '\u205F' or '\u2060' or '\u3000' or '\uFFFC' => true,
        _ => false,
    };
}
