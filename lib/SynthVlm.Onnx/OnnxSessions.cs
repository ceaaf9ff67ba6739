using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace SynthVlm.Onnx;

/// <summary>
/// Creates ONNX Runtime <see cref="InferenceSession"/>s with SynthVlm's settings: threads, graph
/// optimisation, external data, and the execution-provider policy — CUDA when asked; when CUDA
/// cannot be used, one line naming the model and the missing libraries, then either
/// <see cref="OnnxProviderUnavailableException"/> (<see cref="ProviderFallback.Error"/>) or a
/// CPU session (<see cref="ProviderFallback.FallbackToCpu"/>).
/// </summary>
public static class OnnxSessions
{
    /// <summary>The build property that selects the CUDA package (documented in README).</summary>
    public const string CudaBuildHint = "build with -p:SynthVlmOnnxRuntime=Cuda (Microsoft.ML.OnnxRuntime.Gpu.Linux)";

    /// <summary>The ONNX Runtime CUDA provider library, shipped only by the CUDA package.</summary>
    public const string CudaProviderLibrary = "libonnxruntime_providers_cuda.so";

    /// <summary>What ONNX Runtime 1.32's CUDA provider loads: CUDA 12 and cuDNN 9.</summary>
    public static IReadOnlyList<string> CudaLibraries { get; } =
        ["libcudart.so.12", "libcublas.so.12", "libcublasLt.so.12", "libcufft.so.11", "libcurand.so.10", "libcudnn.so.9"];

    /// <summary>Loads a model file (external data is read from its folder).</summary>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime rejected the file (its message names the problem).</exception>
    /// <exception cref="OnnxProviderUnavailableException">CUDA was asked for, cannot be used, and the fallback is <see cref="ProviderFallback.Error"/>.</exception>
    public static InferenceSession Load(string modelPath, OnnxSessionSettings? settings = null) => Load(modelPath, settings, out _);

    /// <summary>Loads a model file and says which provider the session runs on (CPU after a fallback).</summary>
    /// <inheritdoc cref="Load(string, OnnxSessionSettings?)"/>
    public static InferenceSession Load(string modelPath, OnnxSessionSettings? settings, out ExecutionProvider provider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
        var full = Path.GetFullPath(modelPath);
        return Create(full, settings ?? new OnnxSessionSettings(), options => new InferenceSession(full, options), out provider);
    }

    /// <summary>
    /// Loads a model from bytes; external data is read from <see cref="OnnxSessionSettings.ExternalDataFolder"/>.
    /// <paramref name="modelName"/> names it in messages (default "&lt;in-memory model, N bytes&gt;").
    /// </summary>
    /// <inheritdoc cref="Load(string, OnnxSessionSettings?)"/>
    public static InferenceSession FromBytes(byte[] model, OnnxSessionSettings? settings = null, string? modelName = null) =>
        FromBytes(model, settings, modelName, out _);

    /// <summary>Loads a model from bytes and says which provider the session runs on.</summary>
    /// <inheritdoc cref="FromBytes(byte[], OnnxSessionSettings?, string?)"/>
    public static InferenceSession FromBytes(byte[] model, OnnxSessionSettings? settings, string? modelName, out ExecutionProvider provider)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Length == 0)
        {
            throw new ArgumentException("The model byte array is empty.", nameof(model));
        }
        var name = modelName ?? string.Create(CultureInfo.InvariantCulture, $"<in-memory model, {model.Length} bytes>");
        return Create(name, settings ?? new OnnxSessionSettings(), options => new InferenceSession(model, options), out provider);
    }

    /// <summary>The ONNX Runtime <see cref="SessionOptions"/> for <paramref name="settings"/>, without any execution provider but the CPU.</summary>
    public static SessionOptions CreateOptions(OnnxSessionSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfNegative(settings.IntraOpThreads, nameof(settings.IntraOpThreads));
        ArgumentOutOfRangeException.ThrowIfNegative(settings.InterOpThreads, nameof(settings.InterOpThreads));
        var options = new SessionOptions();
        try
        {
            options.IntraOpNumThreads = settings.IntraOpThreads;
            options.InterOpNumThreads = settings.InterOpThreads;
            options.GraphOptimizationLevel = settings.OptimizationLevel;
            options.EnableCpuMemArena = settings.EnableMemoryArena;
            if (settings.ExternalDataFolder is { Length: > 0 } folder)
            {
                options.AddSessionConfigEntry("session.model_external_initializers_file_folder_path", Path.GetFullPath(folder));
            }
            return options;
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }

    private static InferenceSession Create(string model, OnnxSessionSettings settings, Func<SessionOptions, InferenceSession> create, out ExecutionProvider provider)
    {
        InferenceSession session;
        if (settings.Provider == ExecutionProvider.Cuda)
        {
            Exception? failure;
            using (var options = CreateOptions(settings))
            {
                failure = TryAppendCuda(options, settings.CudaDeviceId);
                if (failure is null)
                {
                    try
                    {
                        session = create(options);
                        provider = ExecutionProvider.Cuda;
                        Loaded(settings, model, provider, session);
                        return session;
                    }
                    catch (OnnxRuntimeException e) when (MentionsCuda(e.Message))
                    {
                        // The provider loaded but the device did not (no driver, no GPU, out of memory).
                        failure = e;
                    }
                }
            }
            CudaUnavailable(model, settings, failure);
        }
        using (var cpu = CreateOptions(settings))
        {
            session = create(cpu);
        }
        provider = ExecutionProvider.Cpu;
        Loaded(settings, model, provider, session);
        return session;
    }

    /// <summary>
    /// Appends the CUDA provider through the versioned API table (present in every build; the
    /// CPU build has no OrtSessionOptionsAppendExecutionProvider_CUDA export). Returns the failure:
    /// the provider library or one of its CUDA dependencies did not load.
    /// </summary>
    private static Exception? TryAppendCuda(SessionOptions options, int deviceId)
    {
        try
        {
            using var cuda = new OrtCUDAProviderOptions();
            cuda.UpdateOptions(new Dictionary<string, string>(StringComparer.Ordinal) { ["device_id"] = deviceId.ToString(CultureInfo.InvariantCulture) });
            options.AppendExecutionProvider_CUDA(cuda);
            return null;
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException)
        {
            return e;
        }
    }

    private static void Loaded(OnnxSessionSettings settings, string model, ExecutionProvider provider, InferenceSession session)
    {
        if (settings.Logger is { } logger)
        {
            OnnxLog.SessionLoaded(logger, model, provider, session.InputNames.Count, session.OutputNames.Count);
        }
    }

    private static bool MentionsCuda(string message) =>
        message.Contains("cuda", StringComparison.OrdinalIgnoreCase) || message.Contains("cudnn", StringComparison.OrdinalIgnoreCase)
        || message.Contains("cublas", StringComparison.OrdinalIgnoreCase);

    /// <summary>Throws (Error) or logs the one line (FallbackToCpu) that says why CUDA cannot be used for <paramref name="model"/>.</summary>
    private static void CudaUnavailable(string model, OnnxSessionSettings settings, Exception cause)
    {
        var missing = MissingCudaLibraries();
        var line = CudaUnavailableMessage(model, missing, cause.Message, settings.Fallback);
        if (settings.Fallback == ProviderFallback.Error)
        {
            throw new OnnxProviderUnavailableException(line, cause) { Model = model, MissingLibraries = missing };
        }
        if (settings.Logger is { } logger)
        {
            OnnxLog.CudaFallback(logger, line);
        }
        else
        {
            Console.Error.WriteLine(line);
        }
    }

    /// <summary>The one line: model, missing libraries, the fix, ONNX Runtime's own words, and what happens now.</summary>
    internal static string CudaUnavailableMessage(string model, IReadOnlyList<string> missing, string ortMessage, ProviderFallback fallback)
    {
        var what = missing.Count > 0 ? $"missing {string.Join(", ", missing)}" : "the CUDA libraries load but the device does not";
        var fix = missing.Contains(CudaProviderLibrary)
            ? $"this build carries the CPU package Microsoft.ML.OnnxRuntime; {CudaBuildHint}"
            : missing.Count > 0
                ? "install CUDA 12 and cuDNN 9 or put their folder on LD_LIBRARY_PATH"
                : "check the driver and that a GPU is visible (nvidia-smi, CUDA_VISIBLE_DEVICES)";
        var ort = string.Join(' ', ortMessage.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        var then = fallback == ProviderFallback.Error
            ? "not running on the CPU because ProviderFallback is Error (set ProviderFallback=FallbackToCpu or ExecutionProvider=Cpu)"
            : "running on the CPU because ProviderFallback is FallbackToCpu";
        return $"CUDA execution provider cannot be used for model {model}: {what} ({fix}); ONNX Runtime: {ort}; {then}.";
    }

    /// <summary>
    /// Which of the libraries the CUDA provider needs cannot be loaded here: the provider library
    /// beside the loaded libonnxruntime.so, then CUDA 12 / cuDNN 9 through the normal search path.
    /// </summary>
    public static IReadOnlyList<string> MissingCudaLibraries()
    {
        var missing = new List<string>();
        var folder = NativeFolder();
        if (folder is null || !File.Exists(Path.Combine(folder, CudaProviderLibrary)))
        {
            missing.Add(CudaProviderLibrary);
        }
        foreach (var name in CudaLibraries)
        {
            if (NativeLibrary.TryLoad(name, out var handle))
            {
                NativeLibrary.Free(handle);
            }
            else
            {
                missing.Add(name);
            }
        }
        return missing;
    }

    /// <summary>The folder of the libonnxruntime.so this process loaded (from /proc/self/maps), or null.</summary>
    public static string? NativeFolder()
    {
        // Make sure the native library is loaded before looking for it.
        _ = OrtEnv.Instance();
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                var at = line.IndexOf('/', StringComparison.Ordinal);
                if (at >= 0 && (line.EndsWith("/libonnxruntime.so", StringComparison.Ordinal) || line.Contains("/libonnxruntime.so.", StringComparison.Ordinal)))
                {
                    return Path.GetDirectoryName(line[at..]);
                }
            }
        }
        catch (IOException)
        {
            // Not Linux: no maps file.
        }
        catch (UnauthorizedAccessException)
        {
        }
        return null;
    }
}
