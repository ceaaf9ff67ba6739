using System.Text.RegularExpressions;

namespace SynthVlm.Curation.Cleaning;

/// <summary>
/// Data-Juicer's clean_email_mapper with its default pattern and replacement:
/// <c>[A-Za-z0-9.\-+_]+@[a-z0-9.\-+_]+\.[a-z]+</c> replaced by the empty string. The pattern is
/// case-sensitive after the '@' (Data-Juicer's quirk: "a@Example.COM" and "a@example.COM" are not
/// removed, as the domain and its suffix must be lower-case); a trailing '.' stays, and so do the
/// spaces around a removed address.
/// </summary>
public sealed class CleanEmailMapper : CaptionMapper
{
    /// <summary>Data-Juicer's default e-mail pattern.</summary>
    public const string DefaultPattern = @"[A-Za-z0-9.\-+_]+@[a-z0-9.\-+_]+\.[a-z]+";

    private static readonly Regex Pattern = new(DefaultPattern, RegexOptions.Singleline | RegexOptions.CultureInvariant, Regex.InfiniteMatchTimeout);

    /// <inheritdoc />
    public override string Name => "clean_email_mapper";

    /// <inheritdoc />
    public override string Apply(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Contains('@', StringComparison.Ordinal) ? Pattern.Replace(text, "") : text;
    }
}
