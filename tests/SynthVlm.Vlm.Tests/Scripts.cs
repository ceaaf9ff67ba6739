using SynthVlm.Testing;

namespace SynthVlm.Vlm.Tests;

internal static class Scripts
{
    public static string GlibcxxFix { get; } = Path.Combine(RepoPaths.Root, "eng", "torchsharp", "glibcxx_fix.py");

    public static string Fixtures { get; } = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Vlm.Tests", "Fixtures");

    public static string NuGetPackages { get; } =
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p
            ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
}
