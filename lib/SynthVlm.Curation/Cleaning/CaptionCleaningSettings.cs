namespace SynthVlm.Curation.Cleaning;

/// <summary>
/// Which of Data-Juicer's text mappers run before the rule filters' statistics. Each is optional;
/// those switched on run in the order a Data-Juicer recipe lists them (clean_html as in the
/// RedPajama StackExchange recipe, then the order of the RedPajama and Pile recipes): clean_html,
/// clean_email, clean_links, fix_unicode, punctuation_normalization, whitespace_normalization.
/// <para>All are off by default: the SynthVLM paper's curation is the six rule filters on the
/// captions as given, and cleaning changes the text that is scored, deduplicated and written, so it
/// is a choice the user makes (<see cref="DataJuicerRecipe"/> switches on what Data-Juicer's text
/// recipes use; Data-Juicer's own LLaVA-pretrain recipe uses fix_unicode and
/// punctuation_normalization only — <see cref="LlavaPretrainRecipe"/>).</para>
/// </summary>
public sealed record CaptionCleaningSettings
{
    /// <summary>clean_html_mapper: markup to its text content.</summary>
    public bool CleanHtml { get; init; }

    /// <summary>clean_email_mapper: e-mail addresses removed.</summary>
    public bool CleanEmail { get; init; }

    /// <summary>clean_links_mapper: URLs removed.</summary>
    public bool CleanLinks { get; init; }

    /// <summary>fix_unicode_mapper: ftfy's fix_text (HTML entities, mojibake, quotes, widths, controls, NFC).</summary>
    public bool FixUnicode { get; init; }

    /// <summary>punctuation_normalization_mapper: CJK and typographic punctuation to ASCII.</summary>
    public bool NormalizePunctuation { get; init; }

    /// <summary>whitespace_normalization_mapper: stripped, odd spaces to ' '.</summary>
    public bool NormalizeWhitespace { get; init; }

    /// <summary>Nothing runs (the default).</summary>
    public static CaptionCleaningSettings None { get; } = new();

    /// <summary>The mappers of Data-Juicer's RedPajama/Pile text recipes: e-mails, links, fix_unicode, punctuation, whitespace.</summary>
    public static CaptionCleaningSettings DataJuicerRecipe { get; } = new()
    {
        CleanEmail = true,
        CleanLinks = true,
        FixUnicode = true,
        NormalizePunctuation = true,
        NormalizeWhitespace = true,
    };

    /// <summary>Data-Juicer's llava-pretrain-refine recipe: fix_unicode, then punctuation_normalization.</summary>
    public static CaptionCleaningSettings LlavaPretrainRecipe { get; } = new() { FixUnicode = true, NormalizePunctuation = true };

    /// <summary>True when at least one mapper is on.</summary>
    public bool Any => CleanHtml || CleanEmail || CleanLinks || FixUnicode || NormalizePunctuation || NormalizeWhitespace;
}
