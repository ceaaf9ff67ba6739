using System.Runtime.CompilerServices;

namespace SynthVlm.Recaptioning.Sources;

/// <summary>
/// Every image file under a folder, recursively, in ordinal order of the relative path (folders walked one at a
/// time, so memory is one folder's listing per level). Ids come from the relative path without its extension
/// (<see cref="RecaptionIds.Sanitize"/>). Files are recognised by extension: <c>.jpg .jpeg .png .webp</c>
/// (any case); hidden files and folders (starting with '.') are skipped.
/// </summary>
public sealed class FolderImageSource : IImageSource
{
    /// <summary>The extensions taken as images.</summary>
    public static IReadOnlyList<string> ImageExtensions { get; } = [".jpg", ".jpeg", ".png", ".webp"];

    private readonly string _root;

    /// <summary>Opens <paramref name="folder"/>.</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    public FolderImageSource(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        _root = Path.GetFullPath(folder);
        if (!Directory.Exists(_root))
        {
            throw new DirectoryNotFoundException($"image folder {_root} does not exist.");
        }
    }

    /// <inheritdoc />
    public ImageSourceKind Kind => ImageSourceKind.Folder;

    /// <inheritdoc />
    public string Description => _root;

    /// <summary>Whether <paramref name="path"/>'s extension is one of <see cref="ImageExtensions"/>.</summary>
    public static bool IsImageFile(string path) =>
        ImageExtensions.Contains(Path.GetExtension(path), StringComparer.OrdinalIgnoreCase);

    /// <inheritdoc />
    public async IAsyncEnumerable<RecaptionItem> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        foreach (var item in Walk(_root, cancellationToken))
        {
            yield return item;
        }
    }

    private IEnumerable<RecaptionItem> Walk(string folder, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var entries = new DirectoryInfo(folder).EnumerateFileSystemInfos()
            .Where(e => !e.Name.StartsWith('.'))
            .OrderBy(e => e.Name, StringComparer.Ordinal)
            .ToList();
        foreach (var entry in entries)
        {
            if (entry is DirectoryInfo directory)
            {
                foreach (var inner in Walk(directory.FullName, cancellationToken))
                {
                    yield return inner;
                }
            }
            else if (IsImageFile(entry.Name))
            {
                var relative = Path.GetRelativePath(_root, entry.FullName).Replace('\\', '/');
                var id = RecaptionIds.Sanitize(relative, dropExtension: true);
                yield return id is null
                    ? RecaptionItem.Unreadable(relative + ":path", relative, RejectKinds.SourceError, $"{relative}: no usable id in the path")
                    : new RecaptionItem(id, relative, entry.FullName, null, null);
            }
        }
    }
}
