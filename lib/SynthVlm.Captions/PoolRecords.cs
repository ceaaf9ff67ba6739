namespace SynthVlm.Captions;

/// <summary>One record of a caption pool, in file order: a <see cref="PoolCaption"/> or a <see cref="PoolReject"/>.</summary>
/// <param name="Ordinal">0-based position among all records of the pool, accepted and rejected alike.</param>
/// <param name="Line">1-based line of the file where the record starts (for JSON arrays, the line of the element's opening brace).</param>
public abstract record PoolRecord(long Ordinal, long Line);

/// <summary>A caption read from a pool.</summary>
/// <param name="Ordinal">0-based position among all records of the pool.</param>
/// <param name="Line">1-based line where the record starts.</param>
/// <param name="Id">
/// The id as given (not sanitised; numbers keep their JSON text), or <see cref="CaptionIds.ForContent"/>
/// of the caption when none was given or it was empty after trimming.
/// </param>
/// <param name="IdGiven">True when <paramref name="Id"/> came from the file rather than from the content hash.</param>
/// <param name="Caption">The caption text, control characters kept; never empty or whitespace only.</param>
/// <param name="ImagePath">The image path as given (for an image folder: the full path of an existing file), if any.</param>
/// <param name="Url">The image URL, if any.</param>
/// <param name="HadInvalidUtf8">True when the record held bytes that are not UTF-8; they were replaced with U+FFFD.</param>
public sealed record PoolCaption(
    long Ordinal,
    long Line,
    string Id,
    bool IdGiven,
    string Caption,
    string? ImagePath,
    string? Url,
    bool HadInvalidUtf8) : PoolRecord(Ordinal, Line);

/// <summary>A record that could not become a caption; reading goes on after it unless the docs of the format say otherwise.</summary>
/// <param name="Ordinal">0-based position among all records of the pool.</param>
/// <param name="Line">1-based line where the record starts.</param>
/// <param name="Reason">Why the record was rejected, naming the field or limit involved.</param>
/// <param name="Excerpt">At most 200 characters of the record's text, when there is any.</param>
/// <param name="Id">The record's id as given, when the record gave a usable one (an empty caption keeps its id); otherwise null.</param>
public sealed record PoolReject(long Ordinal, long Line, string Reason, string? Excerpt, string? Id = null) : PoolRecord(Ordinal, Line);
