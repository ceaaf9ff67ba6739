using System.Reflection;
using System.Runtime.InteropServices;
using TorchSharp;

namespace SynthVlm.Vlm;

/// <summary>What <see cref="TorchRuntime.Initialize"/> found: the versions and the device in use.</summary>
/// <param name="TorchSharpVersion">The TorchSharp managed assembly's version (e.g. 0.107.0).</param>
/// <param name="LibTorchVersion">LibTorch's version as the native library reports it (torch.__version__).</param>
/// <param name="Device">The device tensors go to by default: "cuda" when a GPU is usable, else "cpu".</param>
/// <param name="CudaAvailable">Whether the loaded backend sees a CUDA device.</param>
public sealed record TorchRuntimeInfo(string TorchSharpVersion, string LibTorchVersion, string Device, bool CudaAvailable);

/// <summary>
/// Loads TorchSharp's native libraries once per process and reports what was loaded. Call
/// <see cref="Initialize"/> before the first tensor so a load failure surfaces as one clear
/// message instead of TorchSharp's "doesn't contain a reference to libtorch-cpu" at first use.
/// </summary>
public static class TorchRuntime
{
    private static readonly Lazy<TorchRuntimeInfo> Loaded = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Loads the native backend (CUDA when the build selected it and a GPU is present, else CPU).</summary>
    /// <returns>The versions and device found.</returns>
    /// <exception cref="InvalidOperationException">
    /// The native wrapper libLibTorchSharp.so or LibTorch did not load; the message names the library and the fix.
    /// </exception>
    public static TorchRuntimeInfo Initialize() => Loaded.Value;

    private static TorchRuntimeInfo Load()
    {
        string version;
        bool cuda;
        try
        {
            // TorchSharp loads libLibTorchSharp and LibTorch on first use; InitializeDeviceType is that use.
            torch.InitializeDeviceType(DeviceType.CPU);
            cuda = torch.cuda.is_available();
            version = torch.__version__;
        }
        catch (Exception e) when (e is NotSupportedException or DllNotFoundException or TypeInitializationException or EntryPointNotFoundException)
        {
            throw new InvalidOperationException(
                "TorchSharp's native wrapper libLibTorchSharp.so (or LibTorch next to it) failed to load. " +
                "On Debian 12 and other systems whose libstdc++ lacks GLIBCXX_3.4.32 the build uses a patched copy " +
                "that eng/ makes: run `bash eng/provision.sh` (it installs g++ and patchelf) and build again. " +
                $"TorchSharp said: {FirstLine(Innermost(e).Message)}{LoaderMessage()}", e);
        }

        var assemblyVersion = typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? typeof(torch).Assembly.GetName().Version?.ToString() ?? "unknown";
        // The informational version may carry "+commit"; the package version is the part before it.
        var plus = assemblyVersion.IndexOf('+', StringComparison.Ordinal);
        if (plus >= 0)
        {
            assemblyVersion = assemblyVersion[..plus];
        }

        return new TorchRuntimeInfo(assemblyVersion, version, cuda ? "cuda" : "cpu", cuda);
    }

    // TorchSharp's message goes on for a page of probing trace; its first line is the summary.
    private static string FirstLine(string message) =>
        message.IndexOf('\n', StringComparison.Ordinal) is var n and >= 0 ? message[..n].TrimEnd() : message;

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }
        return e;
    }

    /// <summary>
    /// TorchSharp reports a missing package reference whatever the cause; loading the wrapper
    /// directly gets the dynamic loader's own reason (e.g. "version `GLIBCXX_3.4.32' not found").
    /// </summary>
    private static string LoaderMessage()
    {
        string[] candidates =
        [
            Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
            Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so"),
        ];
        foreach (var path in candidates.Where(File.Exists))
        {
            try
            {
                NativeLibrary.Free(NativeLibrary.Load(path));
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
            {
                return $" Loading {path} directly: {e.Message}";
            }
        }
        return "";
    }
}
