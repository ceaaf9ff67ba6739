using SynthVlm.Testing;

namespace SynthVlm.Blip.Tests;

internal static class BlipFixtures
{
    public static string Dir { get; } = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Blip.Tests", "Fixtures");

    public static string TinyBlip => Path.Combine(Dir, "tiny-blip");

    public static string Preprocess => Path.Combine(Dir, "preprocess");

    public static string Tokenizer => Path.Combine(Dir, "tokenizer");

    /// <summary>A copy of the tiny BLIP folder under <paramref name="root"/> to break in a test.</summary>
    public static string CopyTiny(DirectoryInfo root, string name = "tiny")
    {
        var dir = Path.Combine(root.FullName, name);
        Directory.CreateDirectory(dir);
        foreach (var file in Directory.GetFiles(TinyBlip))
        {
            File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        }
        return dir;
    }
}
