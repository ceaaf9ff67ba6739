using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using SynthVlm.Onnx.Native;

namespace SynthVlm.Onnx;

/// <summary>
/// The process-wide ONNX Runtime: locates and loads the native library once, binds the C API
/// (OrtGetApiBase → GetApi(30)) and creates the single OrtEnv every session shares. The env is
/// never released: ORT requires it to outlive every session, and the process ends first.
/// </summary>
public static unsafe class OnnxRuntime
{
    /// <summary>Environment variable naming the native library file or its folder.</summary>
    public const string LibraryPathVariable = "SYNTHVLM_ONNXRUNTIME_PATH";

    /// <summary>The native library's file name (its SONAME; the npm build ships no unversioned link).</summary>
    public const string LibraryFileName = "libonnxruntime.so.1";

    /// <summary>The file, relative to a folder above the app or working directory, that names the library's folder (written by eng/provision.sh).</summary>
    public const string PointerFile = ".synthvlm/onnxruntime-path";

    /// <summary>The ONNX Runtime release whose library eng/provision.sh installs.</summary>
    public const string ProvisionedVersion = "1.30.0";

    private const string FixHint = "run bash eng/provision.sh or set " + LibraryPathVariable + "=<file or folder>";

    private static readonly Lock Gate = new();
    private static string? _libraryPath;
    private static string? _version;
    private static nint _env;
    private static IReadOnlyList<string>? _providers;
    private static volatile ILogger? _logger;

    /// <summary>The ORT version string of the loaded library (for example "1.30.0"); initializes on first use.</summary>
    public static string Version
    {
        get
        {
            EnsureInitialized();
            return _version!;
        }
    }

    /// <summary>Full path of the loaded native library; initializes on first use.</summary>
    public static string LibraryPath
    {
        get
        {
            EnsureInitialized();
            return _libraryPath!;
        }
    }

    /// <summary>
    /// Execution providers compiled into the library (for example CUDA, CPU). Compiled in is not
    /// usable: CUDA also needs its provider libraries beside the library and a GPU.
    /// </summary>
    public static IReadOnlyList<string> AvailableProviders
    {
        get
        {
            EnsureInitialized();
            return _providers!;
        }
    }

    internal static nint Env
    {
        get
        {
            EnsureInitialized();
            return _env;
        }
    }

    /// <summary>
    /// Loads the library and creates the ORT environment. Idempotent: later calls may replace the
    /// <see cref="OnnxRuntimeOptions.Logger"/>, but asking for a different library than the one
    /// loaded throws <see cref="InvalidOperationException"/> (a process can hold only one).
    /// Called lazily with default options by the first session or value.
    /// </summary>
    /// <exception cref="OnnxRuntimeNotFoundException">The library is missing, not ONNX Runtime, or too old.</exception>
    public static void Initialize(OnnxRuntimeOptions? options = null)
    {
        lock (Gate)
        {
            if (_env != 0)
            {
                if (options?.LibraryPath is { Length: > 0 } wanted)
                {
                    var resolved = ResolveLibraryPath(wanted);
                    if (!string.Equals(Path.GetFullPath(resolved), _libraryPath, StringComparison.Ordinal))
                    {
                        throw new InvalidOperationException(
                            $"ONNX Runtime is already loaded from {_libraryPath}; cannot switch to {resolved} in the same process.");
                    }
                }
                if (options?.Logger is { } logger)
                {
                    _logger = logger;
                }
                return;
            }
            options ??= new OnnxRuntimeOptions();
            var path = ResolveLibraryPath(options.LibraryPath);
            var (_, apiBase, api) = LoadApi(path);
            OrtApi.Bind(api);
            _version = Marshal.PtrToStringUTF8(((delegate* unmanaged<nint>)((nint*)apiBase)[1])()) ?? "unknown";
            _logger = options.Logger;
            nint env;
            fixed (byte* logId = "SynthVlm"u8)
            {
                OrtApi.Check(
                    OrtApi.CreateEnvWithCustomLogger((nint)(delegate* unmanaged<nint, int, byte*, byte*, byte*, byte*, void>)&OnLog, 0, (int)options.LogLevel, logId, &env),
                    $"creating the ONNX Runtime environment ({path})");
            }
            _providers = ReadProviders();
            _libraryPath = path;
            _env = env;
            if (_logger is { } log)
            {
                OnnxRuntimeLog.RuntimeLoaded(log, _version, path);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void EnsureInitialized()
    {
        if (Volatile.Read(ref _env) == 0)
        {
            Initialize();
        }
    }

    /// <summary>
    /// Finds the native library: <paramref name="configuredPath"/> (file or folder), then
    /// SYNTHVLM_ONNXRUNTIME_PATH, then the folder named in .synthvlm/onnxruntime-path above
    /// <see cref="AppContext.BaseDirectory"/> or the current directory, then the default cache
    /// (SYNTHVLM_ORT_CACHE, else $XDG_CACHE_HOME or ~/.cache + /synthvlm/onnxruntime/1.30.0).
    /// An explicitly configured path or the environment variable is authoritative: if it names
    /// nothing, the search stops there rather than silently loading another library.
    /// </summary>
    /// <returns>The full path of the library file.</returns>
    /// <exception cref="OnnxRuntimeNotFoundException">Nothing found; the one-line message lists every place looked.</exception>
    public static string ResolveLibraryPath(string? configuredPath) =>
        ResolveLibraryPath(
            configuredPath,
            Environment.GetEnvironmentVariable(LibraryPathVariable),
            [AppContext.BaseDirectory, Environment.CurrentDirectory],
            DefaultCacheFolder());

    /// <summary>The resolution with every input explicit, so tests can drive each branch.</summary>
    internal static string ResolveLibraryPath(string? configuredPath, string? environmentValue, IReadOnlyList<string> searchStarts, string defaultFolder)
    {
        var looked = new List<string>();
        if (!string.IsNullOrWhiteSpace(configuredPath))
        {
            return Candidate(configuredPath, "configured path", looked) ?? throw NotFound(looked, authoritative: "the configured path");
        }
        if (!string.IsNullOrWhiteSpace(environmentValue))
        {
            return Candidate(environmentValue, LibraryPathVariable, looked) ?? throw NotFound(looked, authoritative: LibraryPathVariable);
        }
        looked.Add($"{LibraryPathVariable} (unset)");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var start in searchStarts)
        {
            var pointer = FindPointerFile(start);
            if (pointer is null)
            {
                looked.Add($"{PointerFile} above {start} (none)");
                continue;
            }
            if (!seen.Add(pointer))
            {
                continue;
            }
            var folder = File.ReadAllText(pointer).Trim();
            if (folder.Length == 0)
            {
                looked.Add($"{pointer} (empty)");
                continue;
            }
            if (!Path.IsPathRooted(folder))
            {
                // provision.sh writes an absolute path; a hand-written relative one is taken from the repo root.
                folder = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(pointer)!)!, folder));
            }
            if (Candidate(folder, $"{pointer} ->", looked) is { } found)
            {
                return found;
            }
        }
        return Candidate(defaultFolder, "default cache", looked) ?? throw NotFound(looked, authoritative: null);
    }

    private static string? Candidate(string path, string source, List<string> looked)
    {
        var full = Path.GetFullPath(path);
        if (File.Exists(full))
        {
            return full;
        }
        if (Directory.Exists(full))
        {
            var file = Path.Combine(full, LibraryFileName);
            if (File.Exists(file))
            {
                return file;
            }
            var plain = Path.Combine(full, "libonnxruntime.so");
            if (File.Exists(plain))
            {
                return plain;
            }
            looked.Add($"{source} {full} (folder has no {LibraryFileName})");
            return null;
        }
        looked.Add($"{source} {full} (does not exist)");
        return null;
    }

    private static string? FindPointerFile(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            var pointer = Path.Combine(dir.FullName, PointerFile);
            if (File.Exists(pointer))
            {
                return pointer;
            }
        }
        return null;
    }

    private static OnnxRuntimeNotFoundException NotFound(List<string> looked, string? authoritative)
    {
        var scope = authoritative is null ? "" : $" ({authoritative} is used exclusively when set)";
        return new OnnxRuntimeNotFoundException(
            $"ONNX Runtime native library {LibraryFileName} not found{scope}; looked in: {string.Join("; ", looked)}. To fix: {FixHint}.");
    }

    internal static string DefaultCacheFolder()
    {
        if (Environment.GetEnvironmentVariable("SYNTHVLM_ORT_CACHE") is { Length: > 0 } cache)
        {
            return cache;
        }
        var root = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "synthvlm", "onnxruntime", ProvisionedVersion);
    }

    /// <summary>
    /// Loads <paramref name="path"/> and returns its OrtApi table for version 30, or throws
    /// <see cref="OnnxRuntimeNotFoundException"/> naming the file and the reason (freeing the
    /// library again). Does not touch the process-wide state. <paramref name="apiVersion"/> is
    /// the binding's version except in tests, which ask for a newer one to see the "too old" path.
    /// </summary>
    internal static (nint Library, nint ApiBase, nint Api) LoadApi(string path, uint apiVersion = OrtApi.ApiVersion)
    {
        if (!NativeLibrary.TryLoad(path, out var library))
        {
            throw new OnnxRuntimeNotFoundException(
                $"{path} could not be loaded as a native library (not a shared object for this platform, or a dependency is missing); {FixHint}.");
        }
        var ok = false;
        try
        {
            if (!NativeLibrary.TryGetExport(library, "OrtGetApiBase", out var getApiBase))
            {
                throw new OnnxRuntimeNotFoundException($"{path} is not ONNX Runtime: it has no OrtGetApiBase export; {FixHint}.");
            }
            var apiBase = ((delegate* unmanaged<nint>)getApiBase)();
            if (apiBase == 0)
            {
                throw new OnnxRuntimeNotFoundException($"{path}: OrtGetApiBase returned null; {FixHint}.");
            }
            var api = ((delegate* unmanaged<uint, nint>)((nint*)apiBase)[0])(apiVersion);
            if (api == 0)
            {
                var version = Marshal.PtrToStringUTF8(((delegate* unmanaged<nint>)((nint*)apiBase)[1])()) ?? "unknown";
                throw new OnnxRuntimeNotFoundException(
                    $"{path} is ONNX Runtime {version}, which does not provide C API version {apiVersion} (needs ONNX Runtime 1.{apiVersion} or newer); {FixHint}.");
            }
            ok = true;
            return (library, apiBase, api);
        }
        finally
        {
            if (!ok)
            {
                NativeLibrary.Free(library);
            }
        }
    }

    private static List<string> ReadProviders()
    {
        byte** names;
        int count;
        OrtApi.Check(OrtApi.GetAvailableProviders(&names, &count), "listing execution providers");
        try
        {
            var list = new List<string>(count);
            for (var i = 0; i < count; i++)
            {
                list.Add(OrtApi.Utf8(names[i]) ?? "");
            }
            return list;
        }
        finally
        {
            OrtApi.Check(OrtApi.ReleaseAvailableProviders(names, count));
        }
    }

    [UnmanagedCallersOnly]
    private static void OnLog(nint param, int severity, byte* category, byte* logId, byte* codeLocation, byte* message)
    {
        // An exception must never unwind into ORT's native frames.
        try
        {
            var text = OrtApi.Utf8(message) ?? "";
            var cat = OrtApi.Utf8(category) ?? "";
            var id = OrtApi.Utf8(logId) ?? "";
            var location = OrtApi.Utf8(codeLocation) ?? "";
            if (_logger is { } logger)
            {
                OnnxRuntimeLog.Native(logger, ToLogLevel(severity), cat, id, location, text);
            }
            else
            {
                Console.Error.WriteLine($"[ORT {(OrtLogLevel)severity} {cat} {id} {location}] {text}");
            }
        }
        catch (Exception)
        {
            // Logging is best effort; there is no one to report a logging failure to.
        }
    }

    private static LogLevel ToLogLevel(int severity) => severity switch
    {
        0 => LogLevel.Trace,
        1 => LogLevel.Information,
        2 => LogLevel.Warning,
        3 => LogLevel.Error,
        _ => LogLevel.Critical,
    };
}
