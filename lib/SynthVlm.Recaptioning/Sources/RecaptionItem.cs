namespace SynthVlm.Recaptioning.Sources;

/// <summary>One image to caption, as an <see cref="IImageSource"/> yields it.</summary>
/// <param name="Id">
/// The stable id the caption will carry (see <see cref="RecaptionIds"/>). Items that a source could not read
/// (<paramref name="Problem"/> set) get an id naming where they were, such as <c>metadata.jsonl:12</c>: it holds
/// a ':' that sanitised ids never hold, so it cannot collide with a real one.
/// </param>
/// <param name="Source">Where the item came from, for records and errors: a path, <c>shard.tar:member</c> or <c>file:line</c>.</param>
/// <param name="ImagePath">The image file, when the image is a file.</param>
/// <param name="ImageBytes">The encoded image, when it was read from a container (a WebDataset shard).</param>
/// <param name="OriginalCaption">The caption the image came with (alt-text, metadata text), or null.</param>
/// <param name="Problem">Why the source could not give an image (recorded as a reject, never captioned), or null.</param>
/// <param name="ProblemKind">The reject kind of <paramref name="Problem"/> (a <see cref="RejectKinds"/> value), or null.</param>
public sealed record RecaptionItem(
    string Id,
    string Source,
    string? ImagePath,
    byte[]? ImageBytes,
    string? OriginalCaption,
    string? Problem = null,
    string? ProblemKind = null)
{
    /// <summary>An item that stands for input that could not be read; it becomes a reject record.</summary>
    public static RecaptionItem Unreadable(string id, string source, string kind, string problem) =>
        new(id, source, null, null, null, problem, kind);
}

/// <summary>The kinds of reject records; one spelling each, as the rejects file and the summary write them.</summary>
public static class RejectKinds
{
    /// <summary>The image could not be decoded (truncated, not an image, unsupported format, unreadable file).</summary>
    public const string CorruptImage = "corrupt_image";

    /// <summary>The image is larger than the configured bytes or pixels.</summary>
    public const string HugeImage = "huge_image";

    /// <summary>The captioner failed after its retries (timeouts, errors, garbage bodies). Retried by a resumed run.</summary>
    public const string CaptionerFailure = "captioner_failure";

    /// <summary>The captioner answered with nothing (or only whitespace).</summary>
    public const string EmptyCaption = "empty_caption";

    /// <summary>The id was already given to an earlier item of this input.</summary>
    public const string DuplicateId = "duplicate_id";

    /// <summary>The source's own record could not be read (a bad metadata line, a missing file, a corrupt shard).</summary>
    public const string SourceError = "source_error";

    /// <summary>Every kind, in the order the summary lists them.</summary>
    public static IReadOnlyList<string> All { get; } = [CorruptImage, HugeImage, CaptionerFailure, EmptyCaption, DuplicateId, SourceError];
}
