using System.Text.RegularExpressions;

namespace SynthVlm.Curation.Cleaning;

/// <summary>
/// Data-Juicer's clean_links_mapper with its default pattern (Gruber's liberal URL pattern, as
/// Data-Juicer took it from CleanText) and the empty replacement: anything that starts like a
/// scheme ("http:", "ftp://", also "mailto:x" or "note:3" — any letter followed by word characters
/// and a colon then a slash, letter, digit or '%'), "www." or "name.tld/" is removed up to the next
/// whitespace, balanced parentheses allowed, a trailing punctuation mark (.,;:!?'"«»“”‘’ and
/// brackets) left behind. Case-insensitive. Matching uses .NET's non-backtracking engine, which
/// finds the same matches as backtracking but cannot blow up on the pattern's nested repetition.
/// Where .NET and Python's <c>regex</c> module disagree: \w and \b classify UTF-16 units (a letter
/// outside the BMP is not a word character here), and \w's Unicode categories differ at the edges
/// (.NET: L, Mn, Nd, Pc; regex: alphabetic, marks, Nd, Pc, join controls).
/// </summary>
public sealed class CleanLinksMapper : CaptionMapper
{
    /// <summary>Data-Juicer's default link pattern.</summary>
    public const string DefaultPattern =
        @"(?i)\b("
        + @"(?:[a-z][\w-]+:(?:\/{1,3}|"
        + @"[a-z0-9%])|www\d{0,3}[.]|"
        + @"[a-z0-9.\-]+[.][a-z]{2,4}\/)"
        + @"(?:[^\s()<>]+|\(([^\s()<>]+|"
        + @"(\([^\s()<>]+\)))*\))"
        + @"+(?:\(([^\s()<>]+|(\([^\s()<>]+\)))*\)|"
        + @"[^\s`!()\[\]{};:'"".,<>?«»“”‘’])"
        + @")";

    private static readonly Regex Pattern = new(DefaultPattern, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant, Regex.InfiniteMatchTimeout);

    /// <inheritdoc />
    public override string Name => "clean_links_mapper";

    /// <inheritdoc />
    public override string Apply(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Pattern.Replace(text, "");
    }
}
