namespace SynthVlm.Onnx.Tests;

public sealed class LibraryResolutionTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("synthvlm-ortres-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    private static string RealFolder => Path.GetDirectoryName(OnnxRuntime.LibraryPath)!;

    [Fact]
    public void Bad_explicit_path_gives_one_line_listing_the_place_and_the_fix()
    {
        var bad = Path.Combine(_temp, "nowhere", "libonnxruntime.so.1");
        var act = () => OnnxRuntime.ResolveLibraryPath(bad);
        var e = act.Should().Throw<OnnxRuntimeNotFoundException>().Which;
        e.Message.Should().NotContain("\n");
        e.Message.Should().Contain(bad).And.Contain("does not exist");
        e.Message.Should().Contain("run bash eng/provision.sh or set SYNTHVLM_ONNXRUNTIME_PATH=<file or folder>");
    }

    [Fact]
    public void Nothing_found_lists_every_place_looked()
    {
        var start = Directory.CreateDirectory(Path.Combine(_temp, "app")).FullName;
        var cache = Path.Combine(_temp, "cache");
        var act = () => OnnxRuntime.ResolveLibraryPath(null, null, [start], cache);
        var message = act.Should().Throw<OnnxRuntimeNotFoundException>().Which.Message;
        message.Should().NotContain("\n");
        message.Should().Contain("SYNTHVLM_ONNXRUNTIME_PATH (unset)");
        message.Should().Contain($".synthvlm/onnxruntime-path above {start} (none)");
        message.Should().Contain($"default cache {cache} (does not exist)");
        message.Should().Contain("eng/provision.sh");
    }

    [Fact]
    public void Folder_without_the_library_is_reported_as_such()
    {
        var act = () => OnnxRuntime.ResolveLibraryPath(null, _temp, [], Path.Combine(_temp, "x"));
        act.Should().Throw<OnnxRuntimeNotFoundException>().WithMessage($"*SYNTHVLM_ONNXRUNTIME_PATH {_temp} (folder has no libonnxruntime.so.1)*");
    }

    [Fact]
    public void Resolution_order_configured_then_environment_then_pointer_file_then_cache()
    {
        var real = OnnxRuntime.LibraryPath;
        var repo = Directory.CreateDirectory(Path.Combine(_temp, "repo", ".synthvlm")).Parent!.FullName;
        File.WriteAllText(Path.Combine(repo, ".synthvlm", "onnxruntime-path"), RealFolder + "\n");
        var deep = Directory.CreateDirectory(Path.Combine(repo, "bin", "Debug")).FullName;
        var missingCache = Path.Combine(_temp, "cache");

        OnnxRuntime.ResolveLibraryPath(RealFolder, "/nonexistent", [], missingCache).Should().Be(real);
        OnnxRuntime.ResolveLibraryPath(null, real, [], missingCache).Should().Be(real);
        OnnxRuntime.ResolveLibraryPath(null, null, [deep], missingCache).Should().Be(real);
        OnnxRuntime.ResolveLibraryPath(null, null, [_temp], RealFolder).Should().Be(real);
        // An explicit setting is authoritative even when discovery would succeed.
        var act = () => OnnxRuntime.ResolveLibraryPath(null, Path.Combine(_temp, "gone"), [deep], RealFolder);
        act.Should().Throw<OnnxRuntimeNotFoundException>();
    }

    [Fact]
    public void A_library_that_is_not_onnx_runtime_is_named_with_the_reason()
    {
        var libz = new[] { "/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib64/libz.so.1" }.First(File.Exists);
        var act = () => OnnxRuntime.LoadApi(libz);
        act.Should().Throw<OnnxRuntimeNotFoundException>()
            .Which.Message.Should().StartWith($"{libz} is not ONNX Runtime: it has no OrtGetApiBase export");
    }

    [Fact]
    public void A_file_that_is_not_a_shared_object_cannot_be_loaded()
    {
        var fake = Path.Combine(_temp, "libonnxruntime.so.1");
        File.WriteAllText(fake, "not an ELF file");
        var act = () => OnnxRuntime.LoadApi(fake);
        act.Should().Throw<OnnxRuntimeNotFoundException>().WithMessage($"{fake} could not be loaded as a native library*eng/provision.sh*");
    }

    [Fact]
    public void The_real_library_binds_api_30()
    {
        var (library, apiBase, api) = OnnxRuntime.LoadApi(OnnxRuntime.LibraryPath);
        library.Should().NotBe(0);
        apiBase.Should().NotBe(0);
        api.Should().NotBe(0);
    }

    [Fact]
    public void A_library_too_old_for_the_api_version_is_named_with_its_version()
    {
        // 1.30 answers GetApi(31) with null, exactly as 1.29 answers GetApi(30).
        var act = () => OnnxRuntime.LoadApi(OnnxRuntime.LibraryPath, apiVersion: 31);
        act.Should().Throw<OnnxRuntimeNotFoundException>()
            .Which.Message.Should().StartWith($"{OnnxRuntime.LibraryPath} is ONNX Runtime {OnnxRuntime.Version}, which does not provide C API version 31 (needs ONNX Runtime 1.31 or newer)");
    }

    [Fact]
    public void Initialize_is_idempotent_but_refuses_a_second_library()
    {
        OnnxRuntime.Initialize();
        OnnxRuntime.Initialize(new OnnxRuntimeOptions { LibraryPath = RealFolder });
        var libz = new[] { "/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1" }.First(File.Exists);
        var act = () => OnnxRuntime.Initialize(new OnnxRuntimeOptions { LibraryPath = libz });
        act.Should().Throw<InvalidOperationException>().WithMessage($"*already loaded from {OnnxRuntime.LibraryPath}*");
    }
}
