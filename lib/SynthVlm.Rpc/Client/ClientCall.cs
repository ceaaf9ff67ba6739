using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Google.Protobuf;

namespace SynthVlm.Rpc;

/// <summary>The cached, per-method part of a client call.</summary>
internal sealed class ClientMethod(Uri uri, string service, string method, object parser)
{
    public Uri Uri { get; } = uri;

    public string Service { get; } = service;

    public string Method { get; } = method;

    public object Parser { get; } = parser;
}

/// <summary>One outgoing call: sends the request, reads framed responses, derives the final status.</summary>
internal sealed class ClientCall<TResponse> : IDisposable
    where TResponse : IMessage<TResponse>
{
    private const string Side = "response";

    private readonly RpcChannel _channel;
    private readonly ClientMethod _method;
    private readonly MessageParser<TResponse> _parser;
    private readonly CallOptions _options;
    private readonly CancellationTokenSource _callCts;
    private readonly CancellationTokenSource? _deadlineCts;
    private readonly long _start;
    private readonly byte[] _header = new byte[GrpcProtocol.HeaderSize];
    private Activity? _activity;
    private HttpRequestMessage? _request;
    private HttpResponseMessage? _response;
    private Stream? _body;
    private string? _encoding;
    private RpcStatus? _status;
    private Metadata? _trailers;
    private bool _disposed;

    public ClientCall(RpcChannel channel, ClientMethod method, CallOptions options)
    {
        _channel = channel;
        _method = method;
        _parser = (MessageParser<TResponse>)method.Parser;
        _options = options;
        _start = Stopwatch.GetTimestamp();
        _activity = RpcTelemetry.ActivitySource.StartActivity(method.Service + "/" + method.Method, ActivityKind.Client);
        if (_activity is not null)
        {
            RpcTelemetry.Tag(_activity, method.Service, method.Method);
        }
        if (options.Deadline is { } deadline && deadline != DateTime.MaxValue)
        {
            var remaining = deadline.ToUniversalTime() - DateTime.UtcNow;
            _deadlineCts = new CancellationTokenSource();
            if (remaining <= TimeSpan.Zero)
            {
                _deadlineCts.Cancel();
            }
            else if (remaining <= GrpcProtocol.MaxTimerDelay)
            {
                _deadlineCts.CancelAfter(GrpcProtocol.TimerDelay(remaining));
            }
        }
        // Linked sources unregister safely on disposal, so a deadline timer or user token firing
        // while the call is being disposed cannot throw on a disposed source.
        _callCts = (options.CancellationToken.CanBeCanceled, _deadlineCts) switch
        {
            (true, { } d) => CancellationTokenSource.CreateLinkedTokenSource(options.CancellationToken, d.Token),
            (true, null) => CancellationTokenSource.CreateLinkedTokenSource(options.CancellationToken),
            (false, { } d) => CancellationTokenSource.CreateLinkedTokenSource(d.Token),
            _ => new CancellationTokenSource(),
        };
    }

    public Activity? Activity => _activity;

    public Metadata? ResponseHeaders { get; private set; }

    public RpcStatus? Status => _status;

    public Metadata? Trailers => _trailers;

    private bool DeadlinePassed =>
        _deadlineCts?.IsCancellationRequested == true
        || (_deadlineCts is not null && DateTime.UtcNow >= _options.Deadline!.Value.ToUniversalTime());

    /// <summary>Sends the request and waits for the response headers; returns them (Trailers-Only calls complete here).</summary>
    public async Task<Metadata> StartAsync(IMessage request)
    {
        try
        {
            if (_deadlineCts?.IsCancellationRequested == true)
            {
                throw new RpcException(new RpcStatus(RpcStatusCode.DeadlineExceeded, "Deadline Exceeded"));
            }
            // Kept until the call is disposed: HTTP/2 may still be sending the pooled body after the headers arrive.
            var httpRequest = _request = CreateRequest(request);
            var response = await _channel.SendAsync(httpRequest, _callCts.Token).ConfigureAwait(false);
            _response = response;
            if (_disposed)
            {
                // Disposed while the headers were on their way: nobody will read this response.
                response.Dispose();
                throw new OperationCanceledException(_callCts.Token);
            }
            _encoding = response.Headers.TryGetValues(GrpcProtocol.EncodingHeader, out var enc) ? enc.FirstOrDefault() : null;
            var headers = ToMetadata(response.Headers);
            ResponseHeaders = headers;

            if (GetHeader(response.Headers, GrpcProtocol.StatusHeader) is { } statusText)
            {
                // Trailers-Only: the status came in the headers and there is no body.
                _trailers = headers;
                Complete(ParseStatus(statusText, GetHeader(response.Headers, GrpcProtocol.MessageHeader)));
                return headers;
            }
            if (response.StatusCode != HttpStatusCode.OK)
            {
                Complete(new RpcStatus(GrpcProtocol.FromHttpStatus((int)response.StatusCode),
                    $"Bad gRPC response. HTTP status code: {(int)response.StatusCode}"));
                return headers;
            }
            var contentType = response.Content.Headers.ContentType?.MediaType;
            if (!GrpcProtocol.IsGrpcContentType(contentType))
            {
                Complete(new RpcStatus(RpcStatusCode.Unknown, $"Bad gRPC response. Invalid content-type value: {contentType}"));
                return headers;
            }
            _body = await response.Content.ReadAsStreamAsync(_callCts.Token).ConfigureAwait(false);
            return headers;
        }
        catch (Exception ex)
        {
            throw Fail(ex);
        }
    }

    /// <summary>The next message, or null at the end of the stream (the status is then OK; otherwise this throws).</summary>
    public async ValueTask<TResponse?> ReadNextAsync(CancellationToken cancellationToken)
    {
        if (_status is { } done)
        {
            return done.Code == RpcStatusCode.OK ? default : throw new RpcException(done, _trailers ?? []);
        }
        CancellationTokenRegistration registration = default;
        if (cancellationToken.CanBeCanceled)
        {
            registration = cancellationToken.UnsafeRegister(static s => CancelQuietly((CancellationTokenSource)s!), _callCts);
        }
        try
        {
            var body = _body ?? throw new InvalidOperationException("The call has not started.");
            var read = await body.ReadAtLeastAsync(_header, GrpcProtocol.HeaderSize, throwOnEndOfStream: false, _callCts.Token).ConfigureAwait(false);
            if (read == 0)
            {
                Complete(ReadTrailers());
                return _status!.Value.Code == RpcStatusCode.OK ? default : throw new RpcException(_status.Value, _trailers ?? []);
            }
            if (read < GrpcProtocol.HeaderSize)
            {
                throw new RpcException(RpcStatusCode.Internal, "Incomplete response message: the stream ended inside the 5-byte message header.");
            }
            var compression = MessageCodec.ResolveCompression(_header[0], _encoding, "Response");
            var length = BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(1));
            MessageCodec.CheckReceiveSize(length, _channel.Options.MaxReceiveMessageSize, Side);
            var buffer = ArrayPool<byte>.Shared.Rent((int)length);
            try
            {
                var got = await body.ReadAtLeastAsync(buffer.AsMemory(0, (int)length), (int)length, throwOnEndOfStream: false, _callCts.Token).ConfigureAwait(false);
                if (got < length)
                {
                    throw new RpcException(RpcStatusCode.Internal,
                        $"Incomplete response message: header announced {length} bytes but the stream ended after {got}.");
                }
                return compression is null
                    ? MessageCodec.Parse(_parser, buffer.AsSpan(0, (int)length), Side)
                    : MessageCodec.Parse(_parser, MessageCodec.Decompress(compression, buffer, (int)length, _channel.Options.MaxReceiveMessageSize, Side).AsSpan(), Side);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        catch (Exception ex) when (ex is not RpcException || _status is null)
        {
            throw Fail(ex);
        }
        finally
        {
            await registration.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Reads exactly one message and the status, as a unary call must.</summary>
    public async Task<TResponse> ReadSingleAsync()
    {
        var message = await ReadNextAsync(default).ConfigureAwait(false);
        if (message is null)
        {
            // OK with no message: the server broke the unary contract.
            throw Fail(new RpcException(RpcStatusCode.Unimplemented, "Unary call completed with OK but no response message."));
        }
        var extra = await ReadNextAsync(default).ConfigureAwait(false);
        if (extra is not null)
        {
            throw Fail(new RpcException(RpcStatusCode.Unimplemented, "Unary call received more than one response message."));
        }
        return message;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (_status is null)
        {
            Complete(new RpcStatus(RpcStatusCode.Cancelled, "Call disposed before completion."));
        }
        // Cancelling first makes HttpClient reset an unfinished stream with RST_STREAM CANCEL.
        CancelQuietly(_callCts);
        _body?.Dispose();
        _response?.Dispose();
        _request?.Dispose();
        _callCts.Dispose();
        _deadlineCts?.Dispose();
    }

    private HttpRequestMessage CreateRequest(IMessage request)
    {
        var httpRequest = new HttpRequestMessage(HttpMethod.Post, _method.Uri)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new MessageContent(request, _channel.Options.MaxSendMessageSize),
        };
        var headers = httpRequest.Headers;
        headers.TryAddWithoutValidation(GrpcProtocol.TeHeader, GrpcProtocol.TeTrailers);
        if (_deadlineCts is not null && _options.Deadline is { } deadline)
        {
            headers.TryAddWithoutValidation(GrpcProtocol.TimeoutHeader, GrpcProtocol.FormatTimeout(deadline.ToUniversalTime() - DateTime.UtcNow));
        }
        headers.TryAddWithoutValidation("user-agent", GrpcProtocol.UserAgent);
        headers.TryAddWithoutValidation(GrpcProtocol.AcceptEncodingHeader, GrpcProtocol.SupportedEncodings);
        if (_options.Headers is { } metadata)
        {
            foreach (var entry in metadata)
            {
                headers.TryAddWithoutValidation(entry.Key, GrpcProtocol.WireValue(entry));
            }
        }
        return httpRequest;
    }

    private RpcStatus ReadTrailers()
    {
        var response = _response!;
        var trailing = response.TrailingHeaders;
        _trailers = ToMetadata(trailing);
        if (GetHeader(trailing, GrpcProtocol.StatusHeader) is { } statusText)
        {
            return ParseStatus(statusText, GetHeader(trailing, GrpcProtocol.MessageHeader));
        }
        return new RpcStatus(GrpcProtocol.FromHttpStatus((int)response.StatusCode), "No grpc-status found on response.");
    }

    private RpcStatus ParseStatus(string statusText, string? message)
    {
        var detail = GrpcProtocol.PercentDecode(message);
        if (!GrpcProtocol.TryParseStatus(statusText, out var code))
        {
            return new RpcStatus(RpcStatusCode.Unknown, $"Invalid grpc-status '{statusText}'. {detail}".TrimEnd());
        }
        if (code == RpcStatusCode.Cancelled && DeadlinePassed)
        {
            return new RpcStatus(RpcStatusCode.DeadlineExceeded, "Deadline Exceeded");
        }
        return new RpcStatus(code, detail);
    }

    /// <summary>Turns any failure into the RpcException the caller sees, and completes the call with its status.</summary>
    private RpcException Fail(Exception ex)
    {
        RpcException result;
        if (_status is { } done && ex is RpcException existing && existing.Status == done)
        {
            return existing;
        }
        if (DeadlinePassed && ex is not RpcException { StatusCode: RpcStatusCode.ResourceExhausted or RpcStatusCode.Internal })
        {
            result = new RpcException(new RpcStatus(RpcStatusCode.DeadlineExceeded, "Deadline Exceeded"), _trailers ?? [], ex);
        }
        else if (_options.CancellationToken.IsCancellationRequested || (_disposed && ex is OperationCanceledException))
        {
            result = new RpcException(new RpcStatus(RpcStatusCode.Cancelled, "Call canceled by the client."), [], ex);
        }
        else if (ex is RpcException rpc)
        {
            result = rpc;
        }
        else if (ex is OperationCanceledException && _callCts.IsCancellationRequested)
        {
            result = new RpcException(new RpcStatus(RpcStatusCode.Cancelled, "Call canceled by the client."), [], ex);
        }
        else if (Find<HttpProtocolException>(ex) is { } protocol)
        {
            result = new RpcException(new RpcStatus(GrpcProtocol.FromHttp2ErrorCode(protocol.ErrorCode),
                $"The HTTP/2 stream was reset with error code {protocol.ErrorCode}: {protocol.Message}"), [], ex);
        }
        else if (Find<SocketException>(ex) is { } socket)
        {
            result = new RpcException(new RpcStatus(RpcStatusCode.Unavailable,
                $"Error connecting to {_channel.Address}: {socket.SocketErrorCode} ({socket.Message})"), [], ex);
        }
        else if (ex is HttpRequestException or IOException or System.Security.Authentication.AuthenticationException)
        {
            result = new RpcException(new RpcStatus(RpcStatusCode.Unavailable,
                $"Error talking to {_channel.Address}: {ex.Message}"), [], ex);
        }
        else if (ex is OperationCanceledException)
        {
            result = new RpcException(new RpcStatus(RpcStatusCode.Cancelled, "Call canceled."), [], ex);
        }
        else
        {
            result = new RpcException(new RpcStatus(RpcStatusCode.Internal, $"Unexpected client error: {ex.Message}"), [], ex);
        }
        Complete(result.Status);
        if (result.StatusCode != RpcStatusCode.OK)
        {
            // Stop the stream (RST_STREAM CANCEL) so the server does not keep producing for nobody.
            CancelQuietly(_callCts);
        }
        return result;
    }

    private void Complete(RpcStatus status)
    {
        if (_status is not null)
        {
            return;
        }
        _status = status;
        _trailers ??= [];
        if (_activity is { } activity)
        {
            RpcTelemetry.TagStatus(activity, status);
            activity.Dispose();
            _activity = null;
        }
        RpcTelemetry.Record(RpcTelemetry.ClientDurationHistogram, _method.Service, _method.Method, status.Code, _start);
    }

    /// <summary>Cancels unless the call was disposed meanwhile (its source is then already cancelled or gone).</summary>
    private static void CancelQuietly(CancellationTokenSource source)
    {
        try
        {
            source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Disposal cancelled the call already.
        }
    }

    private static T? Find<T>(Exception? ex)
        where T : Exception
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is T t)
            {
                return t;
            }
        }
        return null;
    }

    private static string? GetHeader(HttpHeaders headers, string name) =>
        headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    private static Metadata ToMetadata(HttpHeaders headers)
    {
        var metadata = new Metadata();
        foreach (var header in headers.NonValidated)
        {
            if (GrpcProtocol.IsReservedHeader(header.Key))
            {
                continue;
            }
            foreach (var value in header.Value)
            {
                try
                {
                    GrpcProtocol.AddReceived(metadata, header.Key, value);
                }
                catch (Exception ex) when (ex is FormatException or ArgumentException)
                {
                    // A header that is not valid gRPC metadata (e.g. a proxy's) is left out rather than failing the call.
                }
            }
        }
        return metadata;
    }
}
