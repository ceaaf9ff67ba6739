namespace SynthVlm.Testing;

/// <summary>Locates the repository and the reference tools tests run against.</summary>
public static class RepoPaths
{
    /// <summary>The repository root (the folder holding SynthVlm.sln).</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>
    /// Debian's Python, which has the reference libraries (grpcio, numpy, skimage, Pillow);
    /// the first python3 on PATH may be another interpreter without them.
    /// Overridable with SYNTHVLM_REFERENCE_PYTHON.
    /// </summary>
    public static string ReferencePython { get; } =
        Environment.GetEnvironmentVariable("SYNTHVLM_REFERENCE_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SynthVlm.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"SynthVlm.sln not found above {AppContext.BaseDirectory}.");
    }
}
