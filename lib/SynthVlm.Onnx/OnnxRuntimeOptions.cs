using Microsoft.Extensions.Logging;

namespace SynthVlm.Onnx;

/// <summary>How the process-wide ONNX Runtime is located and set up (<see cref="OnnxRuntime.Initialize"/>).</summary>
public sealed class OnnxRuntimeOptions
{
    /// <summary>
    /// The native library file, or a folder holding libonnxruntime.so.1. Null: the environment
    /// variable SYNTHVLM_ONNXRUNTIME_PATH, then .synthvlm/onnxruntime-path, then the default cache.
    /// </summary>
    public string? LibraryPath { get; set; }

    /// <summary>The lowest ORT severity that is logged (fixed when the ORT environment is created).</summary>
    public OrtLogLevel LogLevel { get; set; } = OrtLogLevel.Warning;

    /// <summary>Receives ORT's log messages; null writes them to standard error as ORT would.</summary>
    public ILogger? Logger { get; set; }
}
