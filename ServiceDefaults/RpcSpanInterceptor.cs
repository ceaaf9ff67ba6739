using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace SynthVlm.ServiceDefaults;

/// <summary>
/// Names the ASP.NET Core request span of each gRPC call after the method and tags it with the
/// OpenTelemetry RPC conventions (<c>rpc.system</c>, <c>rpc.service</c>, <c>rpc.method</c>,
/// <c>rpc.grpc.status_code</c>), marking non-OK calls as errors. grpc-dotnet itself only adds
/// <c>grpc.method</c> and <c>grpc.status_code</c> to that span.
/// </summary>
public sealed class RpcSpanInterceptor : Interceptor
{
    /// <inheritdoc />
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(continuation);
        var activity = Start(context);
        try
        {
            var response = await continuation(request, context).ConfigureAwait(false);
            Finish(activity, StatusCode.OK, null);
            return response;
        }
        catch (Exception e)
        {
            Finish(activity, e, context);
            throw;
        }
    }

    /// <inheritdoc />
    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(continuation);
        var activity = Start(context);
        try
        {
            await continuation(request, responseStream, context).ConfigureAwait(false);
            Finish(activity, StatusCode.OK, null);
        }
        catch (Exception e)
        {
            Finish(activity, e, context);
            throw;
        }
    }

    private static Activity? Start(ServerCallContext context)
    {
        if (Activity.Current is not { IsAllDataRequested: true } activity)
        {
            return null;
        }
        // context.Method is "/package.Service/Method".
        var method = context.Method.AsSpan().TrimStart('/');
        var slash = method.IndexOf('/');
        activity.DisplayName = method.ToString();
        activity.SetTag("rpc.system", "grpc");
        if (slash > 0)
        {
            activity.SetTag("rpc.service", method[..slash].ToString());
            activity.SetTag("rpc.method", method[(slash + 1)..].ToString());
        }
        return activity;
    }

    private static void Finish(Activity? activity, Exception e, ServerCallContext context)
    {
        // What grpc-dotnet answers for each: the handler's status, DEADLINE_EXCEEDED or CANCELLED
        // for a cancelled call, UNKNOWN for anything else.
        var code = e switch
        {
            RpcException rpc => rpc.StatusCode,
            OperationCanceledException when context.Deadline <= DateTime.UtcNow => StatusCode.DeadlineExceeded,
            OperationCanceledException when context.CancellationToken.IsCancellationRequested => StatusCode.Cancelled,
            _ => StatusCode.Unknown,
        };
        Finish(activity, code, e is RpcException r ? r.Status.Detail : e.GetType().Name);
    }

    private static void Finish(Activity? activity, StatusCode code, string? detail)
    {
        if (activity is null)
        {
            return;
        }
        activity.SetTag("rpc.grpc.status_code", (int)code);
        if (code != StatusCode.OK)
        {
            activity.SetStatus(ActivityStatusCode.Error, $"{code}: {detail}");
        }
    }
}
