namespace SynthVlm.Curation.Cleaning;

/// <summary>
/// One Data-Juicer text mapper: a pure function from a caption to its cleaned form. Instances are
/// immutable and thread-safe.
/// </summary>
public abstract class CaptionMapper
{
    /// <summary>Data-Juicer's operator name, e.g. "clean_links_mapper".</summary>
    public abstract string Name { get; }

    /// <summary>The mapped caption (the same instance when nothing changes).</summary>
    public abstract string Apply(string text);
}
