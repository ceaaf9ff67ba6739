using SynthVlm.Diffusion.Tiny;

namespace SynthVlm.Diffusion;

/// <summary>The tiny SDXL base and refiner the services default to (optimum layout, random weights).</summary>
public static class DefaultSdxlModels
{
    /// <summary>Makes sure <paramref name="directory"/> holds the tiny SDXL base; returns its full path.</summary>
    public static string EnsureTinyBase(string directory) => Ensure(directory, dir => TinySdxl.WriteBase(dir));

    /// <summary>Makes sure <paramref name="directory"/> holds the tiny SDXL refiner; returns its full path.</summary>
    public static string EnsureTinyRefiner(string directory) => Ensure(directory, dir => TinySdxl.WriteRefiner(dir));

    private static string Ensure(string directory, Action<string> write) =>
        IO.AtomicDirectory.Ensure(directory, write, dir => File.Exists(Path.Combine(dir, "model_index.json")));
}
