using SynthVlm.Testing;

namespace SynthVlm.Vlm.Tests;

/// <summary>
/// eng/torchsharp/glibcxx_fix.py decides from the libstdc++ it is given whether TorchSharp's
/// wrapper needs the patch; these give it fake libraries so both answers are tested on any machine.
/// </summary>
public sealed class GlibcxxFixScriptTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-glibcxx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Fake(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, [0x7f, (byte)'E', (byte)'L', (byte)'F', .. System.Text.Encoding.ASCII.GetBytes(content)]);
        return path;
    }

    [Fact]
    public async Task A_libstdcxx_with_GLIBCXX_3_4_32_needs_no_fix()
    {
        var lib = Fake("libstdc++.so.6", "\0GLIBCXX_3.4.30\0GLIBCXX_3.4.31\0GLIBCXX_3.4.32\0");

        var result = await ChildProcess.RunPythonAsync(Scripts.GlibcxxFix, ["--check", "--libstdcxx", lib], TestTimeout.Default);

        result.StandardOutput.Trim().Should().Be("not-needed");
        result.ExitCode.Should().Be(1);
    }

    [Fact]
    public async Task A_libstdcxx_that_stops_at_GLIBCXX_3_4_30_needs_the_fix()
    {
        var lib = Fake("libstdc++.so.6", "\0GLIBCXX_3.4.29\0GLIBCXX_3.4.30\0");

        var result = await ChildProcess.RunPythonAsync(Scripts.GlibcxxFix, ["--check", "--libstdcxx", lib], TestTimeout.Default);

        result.StandardOutput.Trim().Should().Be("needed");
        result.ExitCode.Should().Be(0);
    }

    [Fact]
    public async Task Where_not_needed_nothing_is_patched_and_the_build_is_told_to_use_the_package_file()
    {
        var lib = Fake("libstdc++.so.6", "\0GLIBCXX_3.4.32\0");
        var wrapper = Fake("libLibTorchSharp.so", "stand-in wrapper");
        var output = Path.Combine(_dir, "out");

        var result = await ChildProcess.RunPythonAsync(
            Scripts.GlibcxxFix, ["--wrapper", wrapper, "--out", output, "--libstdcxx", lib, "--print-dir"], TestTimeout.Default);

        result.ExitCode.Should().Be(0, result.StandardError);
        result.StandardOutput.Should().BeEmpty("the MSBuild target keeps the package's file when nothing is printed");
        Directory.GetFiles(output, "*.so", SearchOption.AllDirectories).Should().BeEmpty();
    }

    [Fact]
    public async Task Where_needed_the_package_wrapper_is_patched_once_into_a_folder_keyed_by_its_hash()
    {
        var shipped = Path.Combine(Scripts.NuGetPackages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        File.Exists(shipped).Should().BeTrue($"the TorchSharp package is restored with this project ({shipped})");
        var lib = Fake("libstdc++.so.6", "\0GLIBCXX_3.4.30\0");
        var output = Path.Combine(_dir, "out");
        string[] args = ["--wrapper", shipped, "--out", output, "--libstdcxx", lib];

        var first = await ChildProcess.RunPythonAsync(Scripts.GlibcxxFix, args, TimeSpan.FromMinutes(2));
        var second = await ChildProcess.RunPythonAsync(Scripts.GlibcxxFix, args, TestTimeout.Default);

        first.ExitCode.Should().Be(0, first.StandardError);
        first.StandardError.Should().Contain("patched a copy");
        second.ExitCode.Should().Be(0, second.StandardError);
        second.StandardError.Should().Contain("nothing to do");
        var folder = Directory.GetDirectories(output).Should().ContainSingle().Subject;
        Path.GetFileName(folder).Should().MatchRegex("^[0-9a-f]{16}$");
        File.Exists(Path.Combine(folder, "libsynthvlm_iosinit.so")).Should().BeTrue();
        var readelf = await ChildProcess.RunAsync("readelf", ["-d", "-V", Path.Combine(folder, "libLibTorchSharp.so")], TestTimeout.Default);
        readelf.StandardOutput.Should().Contain("Shared library: [libsynthvlm_iosinit.so]")
            .And.Contain("$ORIGIN")
            .And.NotContain("Name: GLIBCXX_3.4.32");
    }
}
