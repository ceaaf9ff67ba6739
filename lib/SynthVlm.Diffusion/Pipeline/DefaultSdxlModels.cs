using SynthVlm.Diffusion.Tiny;

namespace SynthVlm.Diffusion;

/// <summary>The tiny SDXL base and refiner the services default to (optimum layout, random weights).</summary>
public static class DefaultSdxlModels
{
    /// <summary>Makes sure <paramref name="directory"/> holds the tiny SDXL base; returns its full path.</summary>
    public static string EnsureTinyBase(string directory) => Ensure(directory, dir => TinySdxl.WriteBase(dir));

    /// <summary>Makes sure <paramref name="directory"/> holds the tiny SDXL refiner; returns its full path.</summary>
    public static string EnsureTinyRefiner(string directory) => Ensure(directory, dir => TinySdxl.WriteRefiner(dir));

    /// <summary>Builds beside the target and renames into place, so concurrent starters never see half a model.</summary>
    private static string Ensure(string directory, Action<string> write)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        directory = Path.GetFullPath(directory.TrimEnd('/'));
        if (File.Exists(Path.Combine(directory, "model_index.json")))
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
                if (Directory.Exists(directory))
                {
                    Directory.Delete(directory, recursive: true);
                }
                Directory.Move(staging, directory);
            }
            catch (IOException) when (File.Exists(Path.Combine(directory, "model_index.json")))
            {
                // Another process finished first; its folder is identical.
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
