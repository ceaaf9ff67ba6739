namespace SynthVlm.Recaptioning.Sources;

/// <summary>
/// Images to caption, streamed in a stable order (the same input always gives the same items in the same order,
/// which is what lets a resumed job keep its output order). Sources never load more than one item ahead.
/// </summary>
public interface IImageSource
{
    /// <summary>The source's kind as summaries name it.</summary>
    ImageSourceKind Kind { get; }

    /// <summary>What was opened (a folder, a pool file, shard paths), for summaries and errors.</summary>
    string Description { get; }

    /// <summary>The items in order; unreadable records come as items with <see cref="RecaptionItem.Problem"/> set.</summary>
    /// <param name="cancellationToken">Stops the enumeration.</param>
    IAsyncEnumerable<RecaptionItem> ReadAsync(CancellationToken cancellationToken = default);
}

/// <summary>The kinds of image input the recaptioner reads.</summary>
public enum ImageSourceKind
{
    /// <summary>Decide from the path (see <see cref="ImageSources.Detect"/>).</summary>
    Auto,

    /// <summary>A folder of images, recursively, ids from relative paths.</summary>
    Folder,

    /// <summary>A Hugging Face imagefolder: a folder with <c>metadata.jsonl</c> (<c>file_name</c> plus a caption field).</summary>
    ImageFolder,

    /// <summary>WebDataset <c>.tar</c> shards: members grouped by key, an image (jpg/png/webp) plus txt/json.</summary>
    WebDataset,

    /// <summary>A caption pool (any format <c>CaptionPoolReader</c> reads) whose records name image files.</summary>
    CaptionPool,
}
