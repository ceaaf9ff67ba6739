using Microsoft.Extensions.Logging;

namespace SynthVlm.Onnx.Tests;

/// <summary>
/// CUDA requested where it cannot run. This machine restores the CPU package (no
/// libonnxruntime_providers_cuda.so, no GPU), so both policies take their failure branch here; on a
/// GPU node built with -p:SynthVlmOnnxRuntime=Cuda the session may run on CUDA instead, which the
/// tests accept.
/// </summary>
public sealed class ProviderPolicyTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("synthvlm-onnx-provider-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static bool CudaUsable => OnnxSessions.MissingCudaLibraries().Count == 0;

    private string AddModel()
    {
        var path = Path.Combine(_dir.FullName, "add.onnx");
        File.WriteAllBytes(path, TestModels.AddBuilder().ToBytes());
        return path;
    }

    [Fact]
    public void Cuda_with_Error_throws_one_line_naming_the_model_and_the_missing_libraries()
    {
        var path = AddModel();
        var settings = new OnnxSessionSettings { Provider = ExecutionProvider.Cuda, Fallback = ProviderFallback.Error };
        if (CudaUsable)
        {
            try
            {
                using var session = OnnxSessions.Load(path, settings, out var provider);
                provider.Should().Be(ExecutionProvider.Cuda);
            }
            catch (OnnxProviderUnavailableException e)
            {
                e.Message.Should().StartWith($"CUDA execution provider cannot be used for model {path}: ");
            }
            return;
        }
        var act = () => OnnxSessions.Load(path, settings);
        var error = act.Should().Throw<OnnxProviderUnavailableException>().Which;
        error.Message.Should().StartWith($"CUDA execution provider cannot be used for model {path}: missing ");
        error.Message.Should().NotContainAny("\n", "\r");
        error.Message.Should().Contain("ProviderFallback is Error").And.Contain("FallbackToCpu");
        error.Model.Should().Be(path);
        error.MissingLibraries.Should().NotBeEmpty();
        foreach (var library in error.MissingLibraries)
        {
            error.Message.Should().Contain(library);
        }
        error.InnerException.Should().BeOfType<OnnxRuntimeException>("ONNX Runtime's own error is kept as the cause");
        if (error.MissingLibraries.Contains(OnnxSessions.CudaProviderLibrary))
        {
            error.Message.Should().Contain("-p:SynthVlmOnnxRuntime=Cuda");
        }
    }

    [Fact]
    public void Cuda_with_FallbackToCpu_logs_one_warning_and_runs_on_the_cpu()
    {
        var path = AddModel();
        var logger = new ListLogger();
        var settings = new OnnxSessionSettings { Provider = ExecutionProvider.Cuda, Fallback = ProviderFallback.FallbackToCpu, Logger = logger };

        using var session = OnnxSessions.Load(path, settings, out var provider);

        using var a = TestModels.Tensor([1, 2, 3, 4, 5, 6], 2, 3);
        TestModels.RunFirst(session, new() { ["a"] = a, ["b"] = a }, "z").Should().Equal(2, 4, 6, 8, 10, 12);
        if (CudaUsable)
        {
            return;
        }
        provider.Should().Be(ExecutionProvider.Cpu);
        var warning = logger.Entries.Should().ContainSingle(e => e.Level >= LogLevel.Warning).Which.Message;
        warning.Should().StartWith($"CUDA execution provider cannot be used for model {path}: missing ");
        warning.Should().EndWith("running on the CPU because ProviderFallback is FallbackToCpu.");
        warning.Should().NotContainAny("\n", "\r");
    }

    [Fact]
    public void Cpu_never_touches_cuda()
    {
        var logger = new ListLogger();
        using var session = OnnxSessions.FromBytes(TestModels.AddBuilder().ToBytes(), new OnnxSessionSettings { Logger = logger }, "add", out var provider);
        provider.Should().Be(ExecutionProvider.Cpu);
        logger.Entries.Should().NotContain(e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public void The_message_says_what_to_do_for_each_kind_of_missing_piece()
    {
        var cpuPackage = OnnxSessions.CudaUnavailableMessage("m.onnx", [OnnxSessions.CudaProviderLibrary], "Failed to load\nlibrary", ProviderFallback.Error);
        cpuPackage.Should().Be(
            "CUDA execution provider cannot be used for model m.onnx: missing libonnxruntime_providers_cuda.so (this build carries the CPU package "
            + "Microsoft.ML.OnnxRuntime; build with -p:SynthVlmOnnxRuntime=Cuda (Microsoft.ML.OnnxRuntime.Gpu.Linux)); ONNX Runtime: Failed to load library; "
            + "not running on the CPU because ProviderFallback is Error (set ProviderFallback=FallbackToCpu or ExecutionProvider=Cpu).");

        var noCudnn = OnnxSessions.CudaUnavailableMessage("m.onnx", ["libcudnn.so.9", "libcublasLt.so.12"], "x", ProviderFallback.FallbackToCpu);
        noCudnn.Should().Contain("missing libcudnn.so.9, libcublasLt.so.12 (install CUDA 12 and cuDNN 9").And.EndWith("running on the CPU because ProviderFallback is FallbackToCpu.");

        var noDevice = OnnxSessions.CudaUnavailableMessage("m.onnx", [], "CUDA failure 100: no CUDA-capable device is detected", ProviderFallback.Error);
        noDevice.Should().Contain("the CUDA libraries load but the device does not (check the driver").And.Contain("no CUDA-capable device");
    }

    [Fact]
    public void The_native_library_comes_from_the_package()
    {
        var folder = OnnxSessions.NativeFolder();
        folder.Should().NotBeNull("libonnxruntime.so is loaded from the NuGet package's runtimes/linux-x64/native (or the app folder)");
        File.Exists(Path.Combine(folder!, "libonnxruntime.so")).Should().BeTrue();
        OrtEnv.Instance().GetVersionString().Should().Be("1.32.0");
    }
}
