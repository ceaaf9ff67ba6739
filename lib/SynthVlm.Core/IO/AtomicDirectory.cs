namespace SynthVlm.IO;

/// <summary>Folders that appear complete or not at all.</summary>
public static class AtomicDirectory
{
    /// <summary>
    /// Makes sure <paramref name="directory"/> exists and is complete: if <paramref name="isComplete"/>
    /// says it is, nothing happens; otherwise <paramref name="write"/> fills a staging folder beside it,
    /// which is then renamed into place (an incomplete leftover is replaced). Processes racing to
    /// create the same folder all end with one complete copy. Returns the full path.
    /// </summary>
    public static string Ensure(string directory, Action<string> write, Func<string, bool> isComplete)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(write);
        ArgumentNullException.ThrowIfNull(isComplete);
        directory = Path.GetFullPath(directory.TrimEnd('/'));
        if (isComplete(directory))
        {
            return directory;
        }
        var parent = Path.GetDirectoryName(directory)!;
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{Path.GetFileName(directory)}.{Environment.ProcessId}.{Guid.NewGuid():N}");
        try
        {
            write(staging);
            try
            {
                if (Directory.Exists(directory) && !isComplete(directory))
                {
                    Directory.Delete(directory, recursive: true);
                }
                Directory.Move(staging, directory);
            }
            catch (IOException) when (isComplete(directory))
            {
                // Another process finished first; its copy is as good as ours.
            }
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
        return directory;
    }
}
