using Microsoft.Extensions.Logging;

namespace SynthVlm.Onnx;

internal static partial class OnnxRuntimeLog
{
    [LoggerMessage(EventId = 1, Message = "ORT [{Category}] {LogId} {Location}: {Text}")]
    public static partial void Native(ILogger logger, LogLevel level, string category, string logId, string location, string text);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "CUDA execution provider unavailable for {Model}; running on the CPU instead: {Reason}")]
    public static partial void CudaFallback(ILogger logger, string model, string reason);

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "Loaded ONNX model {Model} on {Provider}: {InputCount} inputs, {OutputCount} outputs")]
    public static partial void SessionLoaded(ILogger logger, string model, ExecutionProvider provider, int inputCount, int outputCount);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "ONNX Runtime {Version} loaded from {Path}")]
    public static partial void RuntimeLoaded(ILogger logger, string version, string path);
}
