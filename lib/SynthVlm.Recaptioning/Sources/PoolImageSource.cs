using System.Globalization;
using System.Runtime.CompilerServices;
using SynthVlm.Captions;

namespace SynthVlm.Recaptioning.Sources;

/// <summary>
/// Images named by a caption pool, read with <see cref="CaptionPoolReader"/> (so every pool format it reads works,
/// streamed): a Hugging Face imagefolder (a folder with <c>metadata.jsonl</c>: <c>file_name</c> plus
/// <c>caption</c> or <c>text</c>), or a pool file (JSONL, JSON, CSV/TSV, LLaVA JSON) whose records have an
/// <c>image</c>/<c>image_path</c>/<c>file_name</c>. The record's caption is kept as the original caption.
/// </summary>
/// <remarks>
/// Ids: a pool's given <c>id</c> (sanitised, extension kept); an imagefolder line without an id gets the id of its
/// <c>file_name</c> (as <see cref="FolderImageSource"/> would name the file); a pool record without one keeps the
/// reader's content-hash id. Relative image paths are resolved against the pool file's folder. A record the reader
/// rejects, one with only a URL (nothing is downloaded), or one naming a missing file becomes a
/// <see cref="RejectKinds.SourceError"/> item with id <c>{file}:{line}</c>.
/// </remarks>
public sealed class PoolImageSource : IImageSource
{
    private readonly string _path;
    private readonly string _baseFolder;
    private readonly CaptionPoolOptions _options;

    /// <summary>Opens a pool file or an imagefolder; the format is detected unless <paramref name="options"/> says it.</summary>
    /// <exception cref="CaptionPoolFormatException">The file or folder does not exist or is not a pool.</exception>
    public PoolImageSource(string path, CaptionPoolOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _path = Path.GetFullPath(path);
        _options = options ?? new CaptionPoolOptions();
        using var reader = CaptionPoolReader.Open(_path, _options);
        Kind = reader.Format == CaptionPoolFormat.ImageFolder ? ImageSourceKind.ImageFolder : ImageSourceKind.CaptionPool;
        _baseFolder = Directory.Exists(_path) ? _path : Path.GetDirectoryName(_path)!;
    }

    /// <inheritdoc />
    public ImageSourceKind Kind { get; }

    /// <inheritdoc />
    public string Description => _path;

    /// <inheritdoc />
    public async IAsyncEnumerable<RecaptionItem> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        using var reader = CaptionPoolReader.Open(_path, _options);
        var fileName = Kind == ImageSourceKind.ImageFolder ? "metadata.jsonl" : Path.GetFileName(_path);
        foreach (var record in reader.Read(cancellationToken))
        {
            var where = string.Create(CultureInfo.InvariantCulture, $"{fileName}:{record.Line}");
            if (record is PoolReject reject)
            {
                yield return RecaptionItem.Unreadable(where, where, RejectKinds.SourceError, $"{where}: {reject.Reason}");
                continue;
            }
            var caption = (PoolCaption)record;
            if (caption.ImagePath is null)
            {
                yield return RecaptionItem.Unreadable(where, where, RejectKinds.SourceError, caption.Url is null
                    ? $"{where}: the record names no image (expected an image, image_path or file_name field)"
                    : $"{where}: the image is a URL ({caption.Url}); download it first, nothing is fetched here");
                continue;
            }
            var image = Path.GetFullPath(caption.ImagePath, _baseFolder);
            string? id;
            if (caption.IdGiven)
            {
                id = RecaptionIds.Sanitize(caption.Id, dropExtension: false);
            }
            else if (Kind == ImageSourceKind.ImageFolder)
            {
                id = RecaptionIds.Sanitize(Path.GetRelativePath(_baseFolder, image), dropExtension: true);
            }
            else
            {
                id = caption.Id;
            }
            if (id is null)
            {
                yield return RecaptionItem.Unreadable(where, where, RejectKinds.SourceError, $"{where}: id '{caption.Id}' has no usable character");
            }
            else if (!File.Exists(image))
            {
                yield return RecaptionItem.Unreadable(where, where, RejectKinds.SourceError, $"{where}: image file {image} does not exist");
            }
            else
            {
                yield return new RecaptionItem(id, where, image, null, caption.Caption);
            }
        }
    }
}
