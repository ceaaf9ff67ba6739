using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace SynthVlm.Rpc;

/// <summary>The server side of one call: its method, peer, deadline, cancellation and metadata.</summary>
public sealed class ServerCallContext : IDisposable
{
    private readonly CancellationTokenSource? _deadlineCts;
    private readonly CancellationTokenSource? _linkedCts;
    private readonly Lock _gate = new();
    private Metadata? _requestHeaders;
    private Timer? _graceTimer;
    private bool _handlerDone;
    private bool _resetForDeadline;

    /// <summary>
    /// How long a handler may run on after its deadline before the stream is reset with
    /// RST_STREAM CANCEL, so a handler that ignores its token cannot hold the client past it.
    /// </summary>
    internal static TimeSpan DeadlineGrace { get; } = TimeSpan.FromSeconds(1);

    internal ServerCallContext(HttpContext httpContext, string method, TimeSpan? timeout)
    {
        HttpContext = httpContext;
        Method = method;
        if (timeout is { } t)
        {
            var now = DateTime.UtcNow;
            Deadline = t < DateTime.MaxValue - now ? now + t : DateTime.MaxValue;
            _deadlineCts = new CancellationTokenSource();
            // A timer cannot run longer than ~49 days; a longer grpc-timeout is as good as none.
            if (t <= GrpcProtocol.MaxTimerDelay)
            {
                _deadlineCts.CancelAfter(GrpcProtocol.TimerDelay(t));
            }
            _linkedCts = CancellationTokenSource.CreateLinkedTokenSource(httpContext.RequestAborted, _deadlineCts.Token);
            CancellationToken = _linkedCts.Token;
            _deadlineCts.Token.UnsafeRegister(static s => ((ServerCallContext)s!).OnDeadline(), this);
        }
        else
        {
            Deadline = DateTime.MaxValue;
            CancellationToken = httpContext.RequestAborted;
        }
    }

    /// <summary>The full method name, <c>/package.Service/Method</c>.</summary>
    public string Method { get; }

    /// <summary>The client address as <c>ipv4:host:port</c> or <c>ipv6:[host]:port</c>.</summary>
    public string Peer
    {
        get
        {
            var connection = HttpContext.Connection;
            return connection.RemoteIpAddress switch
            {
                null => "unknown",
                { AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6 } ip => $"ipv6:[{ip}]:{connection.RemotePort}",
                var ip => $"ipv4:{ip}:{connection.RemotePort}",
            };
        }
    }

    /// <summary>The call's deadline in UTC from <c>grpc-timeout</c>; <see cref="DateTime.MaxValue"/> when the client set none.</summary>
    public DateTime Deadline { get; }

    /// <summary>Fires when the client cancels (RST_STREAM or connection loss) or the deadline passes.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>The client's metadata (protocol headers such as <c>te</c> and <c>grpc-*</c> left out).</summary>
    public Metadata RequestHeaders => _requestHeaders ??= ReadRequestHeaders();

    /// <summary>Metadata sent with the status at the end of the call.</summary>
    public Metadata ResponseTrailers { get; } = [];

    /// <summary>The underlying ASP.NET Core request.</summary>
    public HttpContext HttpContext { get; }

    internal bool DeadlineExceeded =>
        _deadlineCts?.IsCancellationRequested == true && (_resetForDeadline || !HttpContext.RequestAborted.IsCancellationRequested);

    /// <summary>Whether the stream was reset because the handler outlived its deadline (nothing more can be sent).</summary>
    internal bool ResetForDeadline
    {
        get
        {
            lock (_gate)
            {
                return _resetForDeadline;
            }
        }
    }

    /// <summary>The handler has returned; from now on the deadline only affects the status, never resets the stream.</summary>
    internal void HandlerFinished()
    {
        lock (_gate)
        {
            _handlerDone = true;
            _graceTimer?.Dispose();
            _graceTimer = null;
        }
    }

    internal bool ResponseStarted { get; set; }

    /// <summary>Sends the response headers now, with <paramref name="responseHeaders"/> added. At most once, before any message.</summary>
    /// <exception cref="InvalidOperationException">Headers or a message were already sent.</exception>
    public async Task WriteResponseHeadersAsync(Metadata responseHeaders)
    {
        ArgumentNullException.ThrowIfNull(responseHeaders);
        if (ResponseStarted)
        {
            throw new InvalidOperationException("Response headers were already sent for this call.");
        }
        var headers = HttpContext.Response.Headers;
        foreach (var entry in responseHeaders)
        {
            headers.Append(entry.Key, GrpcProtocol.WireValue(entry));
        }
        ResponseStarted = true;
        await HttpContext.Response.BodyWriter.FlushAsync(CancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        HandlerFinished();
        _linkedCts?.Dispose();
        _deadlineCts?.Dispose();
    }

    private void OnDeadline()
    {
        lock (_gate)
        {
            if (!_handlerDone)
            {
                _graceTimer = new Timer(static s => ((ServerCallContext)s!).ResetAfterGrace(), this, DeadlineGrace, Timeout.InfiniteTimeSpan);
            }
        }
    }

    private void ResetAfterGrace()
    {
        lock (_gate)
        {
            if (_handlerDone || HttpContext.RequestAborted.IsCancellationRequested)
            {
                return;
            }
            try
            {
                if (HttpContext.Features.Get<IHttpResetFeature>() is { } reset)
                {
                    _resetForDeadline = true;
                    reset.Reset(8); // CANCEL, as the protocol prescribes for a server-side deadline.
                }
            }
            catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
            {
                // The stream ended on its own meanwhile; a timer callback must not throw.
            }
        }
    }

    private Metadata ReadRequestHeaders()
    {
        var metadata = new Metadata();
        foreach (var header in HttpContext.Request.Headers)
        {
            if (!GrpcProtocol.IsReservedHeader(header.Key))
            {
                try
                {
                    GrpcProtocol.AddReceived(metadata, header.Key, header.Value);
                }
                catch (Exception ex) when (ex is FormatException or ArgumentException)
                {
                    // A malformed header from the client is not the handler's problem; it is left out.
                }
            }
        }
        return metadata;
    }
}
