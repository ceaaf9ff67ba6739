namespace SynthVlm.Curation.Cleaning;

/// <summary>
/// Data-Juicer's fix_unicode_mapper with its default normalization (NFC): ftfy 6.3.1's
/// <c>fix_text</c> with the default configuration, written from ftfy's definitions and tables.
/// <para>Covered, in ftfy's order and repeated per line until nothing changes:
/// <c>unescape_html</c> ("auto": only semicolon-terminated HTML5 entities and upper-cased Latin ones,
/// "&amp;#59;"-style references that decode to ';' kept; skipped from the first line holding '&lt;' on,
/// for that line and every later one — ftfy's quirk), <c>fix_encoding</c> (the badness heuristic,
/// then re-decoding as UTF-8 from each of ftfy's ten single-byte encodings in its order, with
/// <c>restore_byte_a0</c>, <c>replace_lossy_sequences</c>, the utf-8-variants codec,
/// <c>decode_inconsistent_utf8</c>, the Latin-1 to Windows-1252 step and <c>fix_c1_controls</c>),
/// <c>fix_c1_controls</c>, <c>fix_latin_ligatures</c>, <c>fix_character_width</c>,
/// <c>uncurl_quotes</c>, <c>fix_line_breaks</c>, <c>fix_surrogates</c>,
/// <c>remove_terminal_escapes</c>, <c>remove_control_chars</c> and NFC.</para>
/// <para>Not covered: Data-Juicer's other normalization choices (NFKC, NFD, NFKD: .NET's
/// string.Normalize is a no-op under InvariantGlobalization, and only NFC tables exist here);
/// ftfy's <c>explain</c> output. Where .NET regex and Python's differ (UTF-16 units versus code
/// points) only characters outside the BMP could be classified differently, and ftfy's patterns
/// name none.</para>
/// </summary>
public sealed class FixUnicodeMapper : CaptionMapper
{
    /// <inheritdoc />
    public override string Name => "fix_unicode_mapper";

    /// <inheritdoc />
    public override string Apply(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = Ftfy.FixText(text);
        return string.Equals(result, text, StringComparison.Ordinal) ? text : result;
    }
}
