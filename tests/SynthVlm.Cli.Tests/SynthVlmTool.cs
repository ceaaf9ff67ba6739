using System.Reflection;
using SynthVlm.Testing;

namespace SynthVlm.Cli.Tests;

/// <summary>Runs the built `synthvlm` tool (the Cli project's output for this configuration).</summary>
internal static class SynthVlmTool
{
    public static Task<ChildProcessResult> RunAsync(params string[] args)
    {
        var configuration = typeof(SynthVlmTool).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var dll = Path.Combine(RepoPaths.Root, "Cli", "bin", configuration, "net10.0", "synthvlm.dll");
        return ChildProcess.RunAsync("dotnet", new[] { dll }.Concat(args), TimeSpan.FromSeconds(120));
    }
}
