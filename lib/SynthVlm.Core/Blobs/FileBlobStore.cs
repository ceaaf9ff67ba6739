namespace SynthVlm.Blobs;

/// <summary>
/// The blob store on a local or shared file system: a key is a path under <see cref="Root"/>.
/// Writes go to a temporary name in the same folder and are renamed into place, so a reader
/// sees a whole blob or none, and rewriting a key (a redelivered item) is harmless.
/// </summary>
public sealed class FileBlobStore
{
    /// <summary>Creates a store rooted at <paramref name="root"/> (created on first write).</summary>
    public FileBlobStore(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
    }

    /// <summary>The root folder.</summary>
    public string Root { get; }

    /// <summary>The file path of <paramref name="key"/> (validated).</summary>
    public string PathOf(string key) => Path.Combine(Root, BlobKey.Check(key));

    /// <summary>Whether the blob exists.</summary>
    public bool Exists(string key) => File.Exists(PathOf(key));

    /// <summary>Reads a whole blob.</summary>
    /// <exception cref="FileNotFoundException">No blob has that key.</exception>
    public Task<byte[]> ReadAsync(string key, CancellationToken cancellationToken = default) =>
        File.ReadAllBytesAsync(PathOf(key), cancellationToken);

    /// <summary>Writes a whole blob atomically (temporary file, flush, rename over any old one).</summary>
    public async Task WriteAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        var path = PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                await file.WriteAsync(data, cancellationToken).ConfigureAwait(false);
                await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}
