using Microsoft.Extensions.Logging;

namespace SynthVlm.Rpc;

internal static partial class RpcServerLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Unhandled exception in gRPC handler {Method}; answered UNKNOWN")]
    public static partial void HandlerFailed(ILogger logger, string method, Exception exception);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "gRPC call {Method} rejected with {StatusCode}: {Detail}")]
    public static partial void CallRejected(ILogger logger, string method, RpcStatusCode statusCode, string detail);

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "gRPC call {Method} exceeded its deadline {Deadline:O}")]
    public static partial void DeadlineExceeded(ILogger logger, string method, DateTime deadline);

    [LoggerMessage(EventId = 4, Level = LogLevel.Debug, Message = "gRPC call {Method} was cancelled by the client")]
    public static partial void ClientCancelled(ILogger logger, string method);

    [LoggerMessage(EventId = 5, Level = LogLevel.Debug, Message = "gRPC request for unknown method {Path}")]
    public static partial void UnknownMethod(ILogger logger, string path);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "Could not send the status of gRPC call {Method}")]
    public static partial void StatusWriteFailed(ILogger logger, string method, Exception exception);
}
