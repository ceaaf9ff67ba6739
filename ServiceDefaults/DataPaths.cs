using Microsoft.Extensions.Configuration;

namespace SynthVlm.ServiceDefaults;

/// <summary>
/// Where a service keeps and finds data: the data folder (configuration
/// "SynthVlm:DataDirectory", else the SYNTHVLM_DATA_DIR environment variable the AppHost sets,
/// else .synthvlm/ in the repository the binary was built in, else the user's data folder),
/// the blob store root ("SynthVlm:BlobRoot", default {data}/blobs) and the default models
/// ({data}/models).
/// </summary>
public sealed class DataPaths
{
    /// <summary>Configuration key of the data folder.</summary>
    public const string DataDirectoryKey = "SynthVlm:DataDirectory";

    /// <summary>Configuration key of the blob store root.</summary>
    public const string BlobRootKey = "SynthVlm:BlobRoot";

    private DataPaths(string dataDirectory, string blobRoot)
    {
        DataDirectory = dataDirectory;
        BlobRoot = blobRoot;
    }

    /// <summary>The data folder.</summary>
    public string DataDirectory { get; }

    /// <summary>The blob store root.</summary>
    public string BlobRoot { get; }

    /// <summary>Folder of the default (tiny) models.</summary>
    public string ModelsDirectory => Path.Combine(DataDirectory, "models");

    /// <summary>Resolves the paths from configuration.</summary>
    public static DataPaths From(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var data = configuration[DataDirectoryKey] is { Length: > 0 } configured
            ? configured
            : Environment.GetEnvironmentVariable(KnownEnvironment.DataDirectory) is { Length: > 0 } env ? env : DefaultDataDirectory();
        data = Path.GetFullPath(data);
        var blobs = configuration[BlobRootKey] is { Length: > 0 } b ? Path.GetFullPath(b) : Path.Combine(data, "blobs");
        return new DataPaths(data, blobs);
    }

    /// <summary>
    /// Resolves a path a request names: absolute paths are taken as given (normalised); relative
    /// ones are relative to <paramref name="dataDirectory"/> and may not leave it ("../x" is
    /// refused). Null, with <paramref name="problem"/> set, when the path is refused.
    /// </summary>
    public static string? ResolveUnder(string path, string dataDirectory, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(dataDirectory);
        problem = null;
        if (path.Contains('\0', StringComparison.Ordinal))
        {
            problem = "the path contains a NUL character.";
            return null;
        }
        if (Path.IsPathRooted(path))
        {
            return Path.GetFullPath(path);
        }
        var root = Path.GetFullPath(dataDirectory);
        var full = Path.GetFullPath(Path.Combine(root, path));
        var rootWithSeparator = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        if (full != root && !full.StartsWith(rootWithSeparator, StringComparison.Ordinal))
        {
            problem = $"relative path '{path}' leaves the data folder {root}; give an absolute path or one inside it.";
            return null;
        }
        return full;
    }

    private static string DefaultDataDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SynthVlm.sln")))
            {
                return Path.Combine(dir.FullName, ".synthvlm");
            }
        }
        var xdg = Environment.GetEnvironmentVariable("XDG_DATA_HOME") is { Length: > 0 } x
            ? x
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        return Path.Combine(xdg, "synthvlm");
    }
}
