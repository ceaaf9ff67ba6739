using System.Diagnostics;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace SynthVlm.Rpc;

/// <summary>What every server method handler shares: options, logger and how the service instance is obtained.</summary>
internal sealed class ServerMethodSettings(RpcServerOptions options, ILogger logger)
{
    public RpcServerOptions Options { get; } = options;

    public ILogger Logger { get; } = logger;
}

/// <summary>Runs one call of one method: validation, deadline, request, handler, status.</summary>
internal abstract class ServerMethod<TService, TRequest>
    where TService : class
    where TRequest : IMessage<TRequest>
{
    private readonly ServerMethodSettings _settings;
    private readonly MessageParser<TRequest> _parser;
    private readonly Func<IServiceProvider, TService> _serviceFactory;
    private readonly bool _disposeService;

    protected ServerMethod(ServerMethodSettings settings, MethodDescriptor method, Func<IServiceProvider, TService> serviceFactory, bool disposeService)
    {
        _settings = settings;
        _serviceFactory = serviceFactory;
        _disposeService = disposeService;
        _parser = (MessageParser<TRequest>)method.InputType.Parser;
        ServiceName = method.Service.FullName;
        MethodName = method.Name;
        FullMethod = "/" + ServiceName + "/" + MethodName;
    }

    public string ServiceName { get; }

    public string MethodName { get; }

    public string FullMethod { get; }

    protected RpcServerOptions Options => _settings.Options;

    public async Task HandleAsync(HttpContext http)
    {
        var start = Stopwatch.GetTimestamp();
        if (!ServerCallPreamble.TryAccept(http, out var timeout, out var rejection))
        {
            if (rejection is { } r)
            {
                RpcServerLog.CallRejected(_settings.Logger, FullMethod, r.Code, r.Detail);
                ServerCallPreamble.WriteTrailersOnly(http, r, null);
                Finish(r, start);
            }
            return;
        }

        using var context = new ServerCallContext(http, FullMethod, timeout);
        RpcStatus status;
        try
        {
            var request = await ReadRequestAsync(http, context).ConfigureAwait(false);
            var service = _serviceFactory(http.RequestServices);
            try
            {
                await InvokeAsync(service, request, context).ConfigureAwait(false);
            }
            finally
            {
                context.HandlerFinished();
                if (_disposeService)
                {
                    await DisposeServiceAsync(service).ConfigureAwait(false);
                }
            }
            status = context.DeadlineExceeded ? DeadlineStatus() : RpcStatus.Ok;
            if (http.RequestAborted.IsCancellationRequested)
            {
                // The handler finished, but the client had already reset the stream.
                RpcServerLog.ClientCancelled(_settings.Logger, FullMethod);
                Finish(new RpcStatus(RpcStatusCode.Cancelled, "Cancelled by the client."), start);
                return;
            }
        }
        catch (RpcException ex)
        {
            status = context.DeadlineExceeded && ex.StatusCode == RpcStatusCode.Cancelled ? DeadlineStatus() : ex.Status;
            foreach (var entry in ex.Trailers)
            {
                context.ResponseTrailers.Add(entry);
            }
            if (ex.StatusCode is RpcStatusCode.Internal or RpcStatusCode.Unimplemented or RpcStatusCode.ResourceExhausted)
            {
                RpcServerLog.CallRejected(_settings.Logger, FullMethod, ex.StatusCode, ex.Status.Detail);
            }
        }
        catch (Exception) when (context.DeadlineExceeded)
        {
            RpcServerLog.DeadlineExceeded(_settings.Logger, FullMethod, context.Deadline);
            status = DeadlineStatus();
        }
        catch (Exception) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client is gone (RST_STREAM or connection loss): nothing can reach it any more.
            RpcServerLog.ClientCancelled(_settings.Logger, FullMethod);
            Finish(new RpcStatus(RpcStatusCode.Cancelled, "Cancelled by the client."), start);
            return;
        }
        catch (Exception ex)
        {
            RpcServerLog.HandlerFailed(_settings.Logger, FullMethod, ex);
            status = new RpcStatus(RpcStatusCode.Unknown, Options.IncludeExceptionDetails
                ? $"Exception was thrown by handler. {ex.GetType().Name}: {ex.Message}"
                : "Exception was thrown by handler.");
        }

        if (context.ResetForDeadline)
        {
            // The stream was already reset (RST_STREAM CANCEL) because the handler outlived its deadline.
            Finish(status, start);
            return;
        }
        try
        {
            if (context.ResponseStarted)
            {
                ServerCallPreamble.WriteTrailers(http, status, context.ResponseTrailers);
            }
            else
            {
                ServerCallPreamble.WriteTrailersOnly(http, status, context.ResponseTrailers);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException)
        {
            RpcServerLog.StatusWriteFailed(_settings.Logger, FullMethod, ex);
        }
        Finish(status, start);
    }

    protected abstract Task InvokeAsync(TService service, TRequest request, ServerCallContext context);

    private async ValueTask<TRequest> ReadRequestAsync(HttpContext http, ServerCallContext context)
    {
        var encoding = http.Request.Headers[GrpcProtocol.EncodingHeader].ToString();
        try
        {
            return await RequestReader.ReadSingleAsync(
                http.Request.BodyReader, _parser, encoding.Length > 0 ? encoding : null,
                Options.MaxReceiveMessageSize, context.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or BadHttpRequestException && !http.RequestAborted.IsCancellationRequested)
        {
            // The transport failed while reading, before any handler ran: not the handler's UNKNOWN.
            throw new RpcException(new RpcStatus(RpcStatusCode.Internal, $"Failed to read the request: {ex.Message}"), [], ex);
        }
    }

    private static RpcStatus DeadlineStatus() => new(RpcStatusCode.DeadlineExceeded, "Deadline Exceeded");

    private void Finish(RpcStatus status, long start)
    {
        if (Activity.Current is { } activity)
        {
            RpcTelemetry.Tag(activity, ServiceName, MethodName);
            RpcTelemetry.TagStatus(activity, status);
        }
        RpcTelemetry.Record(RpcTelemetry.ServerDurationHistogram, ServiceName, MethodName, status.Code, start);
    }

    private static async ValueTask DisposeServiceAsync(TService service)
    {
        if (service is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync().ConfigureAwait(false);
        }
        else if (service is IDisposable disposable)
        {
            disposable.Dispose();
        }
    }
}

internal sealed class UnaryServerMethod<TService, TRequest, TResponse>(
    ServerMethodSettings settings,
    MethodDescriptor method,
    Func<IServiceProvider, TService> serviceFactory,
    bool disposeService,
    Func<TService, TRequest, ServerCallContext, Task<TResponse>> handler)
    : ServerMethod<TService, TRequest>(settings, method, serviceFactory, disposeService)
    where TService : class
    where TRequest : IMessage<TRequest>
    where TResponse : IMessage<TResponse>
{
    protected override async Task InvokeAsync(TService service, TRequest request, ServerCallContext context)
    {
        var response = await handler(service, request, context).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Handler for {FullMethod} returned a null response.");
        if (context.DeadlineExceeded)
        {
            return;
        }
        MessageCodec.WriteFrame(context.HttpContext.Response.BodyWriter, response, Options.MaxSendMessageSize, "response");
        context.ResponseStarted = true;
    }
}

internal sealed class ServerStreamingServerMethod<TService, TRequest, TResponse>(
    ServerMethodSettings settings,
    MethodDescriptor method,
    Func<IServiceProvider, TService> serviceFactory,
    bool disposeService,
    Func<TService, TRequest, IServerStreamWriter<TResponse>, ServerCallContext, Task> handler)
    : ServerMethod<TService, TRequest>(settings, method, serviceFactory, disposeService)
    where TService : class
    where TRequest : IMessage<TRequest>
    where TResponse : IMessage<TResponse>
{
    protected override Task InvokeAsync(TService service, TRequest request, ServerCallContext context) =>
        handler(service, request, new ResponseStreamWriter(context, Options.MaxSendMessageSize), context);

    private sealed class ResponseStreamWriter(ServerCallContext context, int? maxSendSize) : IServerStreamWriter<TResponse>
    {
        public async Task WriteAsync(TResponse message, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(message);
            context.CancellationToken.ThrowIfCancellationRequested();
            cancellationToken.ThrowIfCancellationRequested();
            var writer = context.HttpContext.Response.BodyWriter;
            MessageCodec.WriteFrame(writer, message, maxSendSize, "response");
            context.ResponseStarted = true;
            var token = cancellationToken.CanBeCanceled ? cancellationToken : context.CancellationToken;
            var flush = await writer.FlushAsync(token).ConfigureAwait(false);
            if (flush.IsCanceled || flush.IsCompleted)
            {
                context.CancellationToken.ThrowIfCancellationRequested();
                throw new OperationCanceledException("The response stream was closed by the client.");
            }
        }
    }
}

/// <summary>Protocol checks before a call starts and the two ways a status is sent.</summary>
internal static class ServerCallPreamble
{
    /// <summary>
    /// Accepts the request as a gRPC call or answers it: HTTP 415 for a non-gRPC content type,
    /// 426 for HTTP/1.x (no trailers there), or a rejection status for bad gRPC headers.
    /// </summary>
    public static bool TryAccept(HttpContext http, out TimeSpan? timeout, out RpcStatus? rejection)
    {
        timeout = null;
        rejection = null;
        var request = http.Request;
        if (!GrpcProtocol.IsGrpcContentType(request.ContentType))
        {
            http.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            http.Response.Headers.Append(GrpcProtocol.StatusHeader, ((int)RpcStatusCode.Internal).ToString(System.Globalization.CultureInfo.InvariantCulture));
            http.Response.Headers.Append(GrpcProtocol.MessageHeader, "Content-Type '" + GrpcProtocol.PercentEncode(request.ContentType ?? "") + "' is not supported.");
            return false;
        }
        if (!HttpProtocol.IsHttp2(request.Protocol) && !HttpProtocol.IsHttp3(request.Protocol))
        {
            http.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
            http.Response.Headers.Upgrade = "h2";
            return false;
        }
        http.Response.ContentType = GrpcProtocol.ContentType;
        // gRPC limits each message (MaxReceiveMessageSize), not the stream: Kestrel's 30 MB body limit would cut long streams.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = null;
        }
        if (!string.Equals(request.Headers[GrpcProtocol.TeHeader].ToString(), GrpcProtocol.TeTrailers, StringComparison.OrdinalIgnoreCase))
        {
            rejection = new RpcStatus(RpcStatusCode.Internal, "Missing or invalid 'te: trailers' request header.");
            return false;
        }
        var timeoutHeader = request.Headers[GrpcProtocol.TimeoutHeader].ToString();
        if (timeoutHeader.Length > 0)
        {
            if (!GrpcProtocol.TryParseTimeout(timeoutHeader, out var t))
            {
                rejection = new RpcStatus(RpcStatusCode.Internal, $"Invalid grpc-timeout '{timeoutHeader}'.");
                return false;
            }
            timeout = t;
        }
        return true;
    }

    /// <summary>The status in the response headers with no body (HEADERS + END_STREAM).</summary>
    public static void WriteTrailersOnly(HttpContext http, RpcStatus status, Metadata? trailers)
    {
        var response = http.Response;
        if (response.HasStarted)
        {
            WriteTrailers(http, status, trailers);
            return;
        }
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcProtocol.ContentType;
        var headers = response.Headers;
        headers[GrpcProtocol.StatusHeader] = GrpcProtocol.StatusText(status.Code);
        if (status.Detail.Length > 0)
        {
            headers[GrpcProtocol.MessageHeader] = GrpcProtocol.PercentEncode(status.Detail);
        }
        if (status.Code == RpcStatusCode.Unimplemented && status.Detail.StartsWith("Unsupported grpc-encoding", StringComparison.Ordinal))
        {
            headers[GrpcProtocol.AcceptEncodingHeader] = GrpcProtocol.SupportedEncodings;
        }
        if (trailers is not null)
        {
            foreach (var entry in trailers)
            {
                headers.Append(entry.Key, GrpcProtocol.WireValue(entry));
            }
        }
    }

    /// <summary>The status in HTTP/2 trailers after headers and messages.</summary>
    public static void WriteTrailers(HttpContext http, RpcStatus status, Metadata? trailers)
    {
        var response = http.Response;
        if (!response.SupportsTrailers())
        {
            throw new InvalidOperationException("The response does not support trailers (HTTP/2 required).");
        }
        response.AppendTrailer(GrpcProtocol.StatusHeader, GrpcProtocol.StatusText(status.Code));
        if (status.Detail.Length > 0)
        {
            response.AppendTrailer(GrpcProtocol.MessageHeader, GrpcProtocol.PercentEncode(status.Detail));
        }
        if (trailers is not null)
        {
            foreach (var entry in trailers)
            {
                response.AppendTrailer(entry.Key, GrpcProtocol.WireValue(entry));
            }
        }
    }
}
