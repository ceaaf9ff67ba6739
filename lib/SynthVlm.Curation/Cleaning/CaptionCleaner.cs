namespace SynthVlm.Curation.Cleaning;

/// <summary>What one mapper did to one caption.</summary>
/// <param name="Mapper">Data-Juicer's operator name.</param>
/// <param name="Before">The caption as the mapper received it.</param>
/// <param name="After">The caption as the mapper returned it (differs from <paramref name="Before"/>).</param>
public sealed record CleaningChange(string Mapper, string Before, string After);

/// <summary>A caption after cleaning.</summary>
/// <param name="Original">The caption as given.</param>
/// <param name="Text">The caption after every mapper.</param>
/// <param name="Changes">One entry per mapper that changed the text, in the order they ran.</param>
public sealed record CleanedCaption(string Original, string Text, IReadOnlyList<CleaningChange> Changes)
{
    /// <summary>True when some mapper changed the caption.</summary>
    public bool Changed => Changes.Count > 0;
}

/// <summary>
/// Runs the mappers that <see cref="CaptionCleaningSettings"/> switches on, in Data-Juicer's recipe
/// order, and records each change. Immutable and thread-safe.
/// </summary>
public sealed class CaptionCleaner
{
    private static readonly IReadOnlyList<CleaningChange> NoChanges = [];

    /// <summary>Creates a cleaner for <paramref name="settings"/>.</summary>
    public CaptionCleaner(CaptionCleaningSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Settings = settings;
        var mappers = new List<CaptionMapper>();
        if (settings.CleanHtml)
        {
            mappers.Add(new CleanHtmlMapper());
        }
        if (settings.CleanEmail)
        {
            mappers.Add(new CleanEmailMapper());
        }
        if (settings.CleanLinks)
        {
            mappers.Add(new CleanLinksMapper());
        }
        if (settings.FixUnicode)
        {
            mappers.Add(new FixUnicodeMapper());
        }
        if (settings.NormalizePunctuation)
        {
            mappers.Add(new PunctuationNormalizationMapper());
        }
        if (settings.NormalizeWhitespace)
        {
            mappers.Add(new WhitespaceNormalizationMapper());
        }
        Mappers = mappers;
    }

    /// <summary>The settings in force.</summary>
    public CaptionCleaningSettings Settings { get; }

    /// <summary>The mappers that run, in order.</summary>
    public IReadOnlyList<CaptionMapper> Mappers { get; }

    /// <summary>Every mapper's operator name, in the order they would run when all are on.</summary>
    public static IReadOnlyList<string> AllMapperNames { get; } =
    [
        "clean_html_mapper", "clean_email_mapper", "clean_links_mapper", "fix_unicode_mapper",
        "punctuation_normalization_mapper", "whitespace_normalization_mapper",
    ];

    /// <summary>Cleans <paramref name="text"/>.</summary>
    public CleanedCaption Clean(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        List<CleaningChange>? changes = null;
        var current = text;
        foreach (var mapper in Mappers)
        {
            var next = mapper.Apply(current);
            if (!string.Equals(next, current, StringComparison.Ordinal))
            {
                (changes ??= []).Add(new CleaningChange(mapper.Name, current, next));
                current = next;
            }
        }
        return new CleanedCaption(text, current, changes ?? NoChanges);
    }
}
