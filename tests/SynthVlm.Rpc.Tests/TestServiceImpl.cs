using System.Collections.Concurrent;
using System.Diagnostics;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using SynthVlm.Rpc.Tests.Protos;

namespace SynthVlm.Rpc.Tests;

/// <summary>What handlers saw, so tests can check the server side of a call.</summary>
public sealed class CallObserver
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _started = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<DateTime>> _cancelled = new();

    public ConcurrentDictionary<string, ActivityTraceId> TraceIds { get; } = new();

    public ConcurrentDictionary<string, DateTime> Deadlines { get; } = new();

    public TaskCompletionSource Started(string id) => _started.GetOrAdd(id, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>Completes when the handler for <paramref name="id"/> saw its token cancelled.</summary>
    public TaskCompletionSource<DateTime> Cancelled(string id) => _cancelled.GetOrAdd(id, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
}

public sealed class TestServiceImpl(CallObserver observer) : IRpcService
{
    public static ServiceDescriptor Descriptor => TestReflection.Descriptor.FindTypeByName<ServiceDescriptor>("TestService");

    public Task<EchoResponse> Echo(EchoRequest request, ServerCallContext context)
    {
        if (Activity.Current is { } activity)
        {
            observer.TraceIds[request.Message] = activity.TraceId;
        }
        observer.Deadlines[request.Message] = context.Deadline;
        return Task.FromResult(new EchoResponse { Message = request.Message });
    }

    public async Task Stream(StreamRequest request, IServerStreamWriter<EchoResponse> responses, ServerCallContext context)
    {
        try
        {
            for (var i = 0; i < request.Count; i++)
            {
                if (request.FailAfter > 0 && i == request.FailAfter)
                {
                    var trailers = new Metadata { { "x-failed-at", i.ToString(System.Globalization.CultureInfo.InvariantCulture) } };
                    throw new RpcException(new RpcStatus(RpcStatusCode.Aborted, $"stopped after {i}"), trailers);
                }
                await responses.WriteAsync(new EchoResponse { Message = $"{request.Message}{i}" });
                if (request.DelayMs > 0)
                {
                    await Task.Delay(request.DelayMs, context.CancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            observer.Cancelled(request.Message).TrySetResult(DateTime.UtcNow);
            throw;
        }
    }

    public async Task<EchoResponse> Slow(SlowRequest request, ServerCallContext context)
    {
        observer.Deadlines[request.Id] = context.Deadline;
        observer.Started(request.Id).TrySetResult();
        if (request.IgnoreCancellationMs > 0)
        {
            // A badly behaved handler: the server must still release the client at the deadline.
            await Task.Delay(request.IgnoreCancellationMs, CancellationToken.None);
            return new EchoResponse { Message = "late" };
        }
        try
        {
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
        }
        catch (OperationCanceledException)
        {
            observer.Cancelled(request.Id).TrySetResult(DateTime.UtcNow);
            throw;
        }
        return new EchoResponse { Message = "unreachable" };
    }

    public Task<EchoResponse> Fail(FailRequest request, ServerCallContext context)
    {
        if (request.Code < 0)
        {
            throw new InvalidOperationException("secret internal detail");
        }
        var trailers = new Metadata
        {
            { "x-reason", "because" },
            { "x-blob-bin", new byte[] { 0, 1, 2, 255 } },
        };
        throw new RpcException(new RpcStatus((RpcStatusCode)request.Code, request.Detail), trailers);
    }

    public async Task<EchoResponse> EchoHeaders(EchoRequest request, ServerCallContext context)
    {
        var headers = new Metadata();
        foreach (var entry in context.RequestHeaders)
        {
            if (entry.Key.StartsWith("x-", StringComparison.Ordinal))
            {
                if (entry.IsBinary)
                {
                    headers.Add("echo-" + entry.Key, entry.ValueBytes);
                    context.ResponseTrailers.Add("trailer-" + entry.Key, entry.ValueBytes);
                }
                else
                {
                    headers.Add("echo-" + entry.Key, entry.Value);
                    context.ResponseTrailers.Add("trailer-" + entry.Key, entry.Value);
                }
            }
        }
        await context.WriteResponseHeadersAsync(headers);
        return new EchoResponse { Message = context.Method };
    }

    public async Task<EchoResponse> Reset(FailRequest request, ServerCallContext context)
    {
        var reset = context.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResetFeature>()
            ?? throw new InvalidOperationException("HTTP/2 reset is not available.");
        reset.Reset(request.Code);
        await Task.Delay(Timeout.Infinite, context.CancellationToken);
        return new EchoResponse();
    }

    public Task<BigResponse> Big(BigRequest request, ServerCallContext context) =>
        Task.FromResult(new BigResponse
        {
            Received = request.Payload.Length,
            Payload = ByteString.CopyFrom(Filled(request.ResponseSize)),
        });

    public static byte[] Filled(int size)
    {
        var bytes = new byte[size];
        for (var i = 0; i < size; i++)
        {
            bytes[i] = (byte)(i * 31);
        }
        return bytes;
    }
}

/// <summary>Claims to implement MismatchService but its Echo takes the wrong request type.</summary>
public sealed class MismatchServiceImpl : IRpcService
{
    public static ServiceDescriptor Descriptor => TestReflection.Descriptor.FindTypeByName<ServiceDescriptor>("MismatchService");

    public Task<EchoResponse> Echo(StreamRequest request, ServerCallContext context) =>
        Task.FromResult(new EchoResponse { Message = request.Message });
}
