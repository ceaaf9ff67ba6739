using Microsoft.Extensions.Logging;

namespace SynthVlm.Onnx;

internal static partial class OnnxLog
{
    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "{Message}")]
    public static partial void CudaFallback(ILogger logger, string message);

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "Loaded ONNX model {Model} on {Provider}: {InputCount} inputs, {OutputCount} outputs")]
    public static partial void SessionLoaded(ILogger logger, string model, ExecutionProvider provider, int inputCount, int outputCount);
}
