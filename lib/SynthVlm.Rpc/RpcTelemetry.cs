using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SynthVlm.Rpc;

/// <summary>The names of the gRPC layer's telemetry (OpenTelemetry RPC semantic conventions).</summary>
public static class RpcTelemetry
{
    /// <summary>The ActivitySource and Meter name: register it with tracing and metrics.</summary>
    public const string Name = "SynthVlm.Rpc";

    /// <summary>Histogram of server call durations in seconds.</summary>
    public const string ServerDuration = "rpc.server.duration";

    /// <summary>Histogram of client call durations in seconds.</summary>
    public const string ClientDuration = "rpc.client.duration";

    /// <summary>Tag: always <c>grpc</c>.</summary>
    public const string RpcSystemTag = "rpc.system";

    /// <summary>Tag: the full service name, e.g. <c>grpc.health.v1.Health</c>.</summary>
    public const string RpcServiceTag = "rpc.service";

    /// <summary>Tag: the method name, e.g. <c>Check</c>.</summary>
    public const string RpcMethodTag = "rpc.method";

    /// <summary>Tag: the numeric gRPC status code.</summary>
    public const string StatusCodeTag = "rpc.grpc.status_code";

    internal const string SystemValue = "grpc";

    internal static ActivitySource ActivitySource { get; } = new(Name);

    internal static Meter Meter { get; } = new(Name);

    internal static Histogram<double> ServerDurationHistogram { get; } =
        Meter.CreateHistogram<double>(ServerDuration, "s", "Duration of inbound gRPC calls.");

    internal static Histogram<double> ClientDurationHistogram { get; } =
        Meter.CreateHistogram<double>(ClientDuration, "s", "Duration of outbound gRPC calls.");

    internal static void Record(Histogram<double> histogram, string service, string method, RpcStatusCode code, long startTimestamp)
    {
        if (!histogram.Enabled)
        {
            return;
        }
        var tags = new TagList
        {
            { RpcSystemTag, SystemValue },
            { RpcServiceTag, service },
            { RpcMethodTag, method },
            { StatusCodeTag, (int)code },
        };
        histogram.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
    }

    internal static void Tag(Activity activity, string service, string method)
    {
        activity.SetTag(RpcSystemTag, SystemValue);
        activity.SetTag(RpcServiceTag, service);
        activity.SetTag(RpcMethodTag, method);
    }

    internal static void TagStatus(Activity activity, RpcStatus status)
    {
        activity.SetTag(StatusCodeTag, (int)status.Code);
        if (status.Code != RpcStatusCode.OK)
        {
            activity.SetStatus(ActivityStatusCode.Error, status.Detail);
        }
    }
}
