using SynthVlm.Testing;
using TorchSharp;

namespace SynthVlm.Vlm.Tests;

public sealed class TorchRuntimeTests
{
    private static string NativeFolder => Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");

    [Fact]
    public void Initialize_loads_TorchSharp_from_the_test_bin_and_reports_versions_and_cpu()
    {
        var info = TorchRuntime.Initialize();

        info.TorchSharpVersion.Should().Be("0.107.0");
        info.LibTorchVersion.Should().StartWith("2.10");
        info.Device.Should().Be("cpu");
        info.CudaAvailable.Should().BeFalse();
        using var t = torch.ones(2, 3);
        t.sum().item<float>().Should().Be(6f);
    }

    [Fact]
    public async Task The_test_bin_holds_the_patched_wrapper_exactly_where_the_system_libstdcxx_needs_it()
    {
        // The same decision the build made, asked of the script for the system's libstdc++.
        var check = await ChildProcess.RunPythonAsync(Scripts.GlibcxxFix, ["--check"], TestTimeout.Default);
        var needed = check.StandardOutput.Trim() == "needed";

        File.Exists(Path.Combine(NativeFolder, "libLibTorchSharp.so")).Should().BeTrue();
        File.Exists(Path.Combine(NativeFolder, "libsynthvlm_iosinit.so")).Should().Be(needed, check.StandardOutput);
        var shipped = Path.Combine(Scripts.NuGetPackages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        if (needed && File.Exists(shipped))
        {
            File.ReadAllBytes(Path.Combine(NativeFolder, "libLibTorchSharp.so"))
                .Should().NotEqual(File.ReadAllBytes(shipped), "the package's wrapper does not load here");
        }
    }
}
