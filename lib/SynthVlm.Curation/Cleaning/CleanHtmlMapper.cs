using System.Collections.Frozen;
using System.Text;
using System.Text.RegularExpressions;

namespace SynthVlm.Curation.Cleaning;

/// <summary>
/// Data-Juicer's clean_html_mapper: "&lt;li&gt;" and "&lt;ol&gt;" become "\n*", their end tags vanish,
/// then the text content of the HTML is kept — tags, comments, declarations and processing
/// instructions removed, character references decoded as Python's html.unescape does (every HTML5
/// name, the legacy ones also without ';', the longest known prefix of an unknown name, numeric
/// references with the HTML5 replacements). Data-Juicer parses with selectolax (a C HTML5
/// parser, not available here); this follows Python's html.parser on well-formed markup, which is
/// what the parity fixture checks. Differences left: the contents of script and style elements are
/// kept as text, an unclosed "&lt;tag" at the end is dropped, and carriage returns are not folded
/// into line feeds as an HTML5 parser does. A '&lt;' not followed by a letter, '/', '!' or '?' is text.
/// </summary>
public sealed class CleanHtmlMapper : CaptionMapper
{
    private static readonly Regex CharRef = new(@"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)", RegexOptions.CultureInvariant, Regex.InfiniteMatchTimeout);
    private static readonly FrozenDictionary<string, string> Html5 = BuildHtml5();
    private static readonly FrozenDictionary<int, string> InvalidCharrefs = FtfyTables.InvalidCharrefs.ToFrozenDictionary(p => p.CodePoint, p => p.Replacement);
    private static readonly FrozenSet<int> InvalidCodepoints = FtfyTables.InvalidCodepoints.ToFrozenSet();

    /// <inheritdoc />
    public override string Name => "clean_html_mapper";

    /// <inheritdoc />
    public override string Apply(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var html = text.Replace("<li>", "\n*", StringComparison.Ordinal).Replace("</li>", "", StringComparison.Ordinal)
            .Replace("<ol>", "\n*", StringComparison.Ordinal).Replace("</ol>", "", StringComparison.Ordinal);
        var output = new StringBuilder(html.Length);
        var i = 0;
        while (i < html.Length)
        {
            var lt = html.IndexOf('<', i);
            if (lt < 0)
            {
                output.Append(Unescape(html[i..]));
                break;
            }
            output.Append(Unescape(html[i..lt]));
            var end = MarkupEnd(html, lt);
            if (end < 0)
            {
                output.Append('<');
                i = lt + 1;
            }
            else
            {
                i = end;
            }
        }
        var result = output.ToString();
        return string.Equals(result, text, StringComparison.Ordinal) ? text : result;
    }

    /// <summary>Python's html.unescape.</summary>
    public static string Unescape(string text) => text.Contains('&', StringComparison.Ordinal)
        ? CharRef.Replace(text, m => Replace(m.Groups[1].Value))
        : text;

    // The index after the markup that starts at lt, or -1 when '<' is plain text there.
    private static int MarkupEnd(string html, int lt)
    {
        if (lt + 1 >= html.Length)
        {
            return -1;
        }
        var next = html[lt + 1];
        if (string.CompareOrdinal(html, lt, "<!--", 0, 4) == 0)
        {
            var close = html.IndexOf("-->", lt + 4, StringComparison.Ordinal);
            return close < 0 ? html.Length : close + 3;
        }
        if (char.IsAsciiLetter(next) || next is '!' or '?' || (next == '/' && lt + 2 < html.Length && char.IsAsciiLetter(html[lt + 2])))
        {
            // To the '>' that closes the tag, skipping quoted attribute values.
            char quote = '\0';
            for (var k = lt + 1; k < html.Length; k++)
            {
                var c = html[k];
                if (quote != '\0')
                {
                    if (c == quote)
                    {
                        quote = '\0';
                    }
                }
                else if (c is '"' or '\'' && char.IsAsciiLetter(next) && html[k - 1] == '=')
                {
                    quote = c;
                }
                else if (c == '>')
                {
                    return k + 1;
                }
            }
            return html.Length;
        }
        return -1;
    }

    private static string Replace(string s)
    {
        if (s[0] == '#')
        {
            var hex = s[1] is 'x' or 'X';
            var digits = s.AsSpan(hex ? 2 : 1).TrimEnd(';');
            var value = System.Numerics.BigInteger.Parse(hex ? "0" + digits.ToString() : digits.ToString(),
                hex ? System.Globalization.NumberStyles.AllowHexSpecifier : System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture);
            if (value <= 0x10FFFF && InvalidCharrefs.TryGetValue((int)value, out var special))
            {
                return special;
            }
            if (value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))
            {
                return "\uFFFD";
            }
            var cp = (int)value;
            return InvalidCodepoints.Contains(cp) ? "" : char.ConvertFromUtf32(cp);
        }
        if (Html5.TryGetValue(s, out var named))
        {
            return named;
        }
        for (var x = s.Length - 1; x > 1; x--)
        {
            if (Html5.TryGetValue(s[..x], out var prefix))
            {
                return prefix + s[x..];
            }
        }
        return "&" + s;
    }

    private static FrozenDictionary<string, string> BuildHtml5()
    {
        var table = FtfyTables.Html5;
        var map = new Dictionary<string, string>(table.Length / 2, StringComparer.Ordinal);
        for (var i = 0; i < table.Length; i += 2)
        {
            map[table[i]] = table[i + 1];
        }
        return map.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
