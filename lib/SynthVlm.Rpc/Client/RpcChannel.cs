using System.Collections.Concurrent;
using System.Diagnostics;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace SynthVlm.Rpc;

/// <summary>
/// A client connection to one gRPC server over HTTP/2: http:// uses prior knowledge (h2c),
/// https:// uses TLS with ALPN. Thread-safe; make one per server and share it.
/// </summary>
public sealed class RpcChannel : IDisposable
{
    private readonly HttpMessageInvoker _invoker;
    private readonly HttpClient? _client;
    private readonly bool _disposeInvoker;
    private readonly ConcurrentDictionary<MethodDescriptor, ClientMethod> _methods = new();

    /// <summary>Creates a channel that sends through <paramref name="handler"/> (e.g. a configured SocketsHttpHandler).</summary>
    /// <param name="address">The server's base address.</param>
    /// <param name="handler">The handler to send with.</param>
    /// <param name="options">Channel options; defaults when null.</param>
    /// <param name="disposeHandler">Whether disposing the channel disposes <paramref name="handler"/>.</param>
    public RpcChannel(Uri address, HttpMessageHandler handler, RpcChannelOptions? options = null, bool disposeHandler = true)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(handler);
        Address = address;
        Options = options ?? new RpcChannelOptions();
        _invoker = new HttpMessageInvoker(handler, disposeHandler);
        _disposeInvoker = true;
    }

    /// <summary>
    /// Creates a channel that sends through <paramref name="httpClient"/> (not disposed with the channel).
    /// Its <see cref="HttpClient.Timeout"/> still applies, so set it to infinite for long streams and use deadlines instead.
    /// </summary>
    public RpcChannel(Uri address, HttpClient httpClient, RpcChannelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(httpClient);
        Address = address;
        Options = options ?? new RpcChannelOptions();
        _client = httpClient;
        _invoker = httpClient;
        _disposeInvoker = false;
    }

    /// <summary>The server's base address.</summary>
    public Uri Address { get; }

    /// <summary>The channel's options.</summary>
    public RpcChannelOptions Options { get; }

    /// <summary>Creates a channel with its own SocketsHttpHandler for <paramref name="address"/> (http:// or https://).</summary>
    public static RpcChannel ForAddress(Uri address, RpcChannelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps)
        {
            throw new ArgumentException($"gRPC address must be http:// or https://, got '{address}'.", nameof(address));
        }
        options ??= new RpcChannelOptions();
        var handler = new SocketsHttpHandler
        {
            // More than one connection once a server's concurrent-stream limit is reached.
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(20),
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            UseCookies = false,
            UseProxy = false,
        };
        if (options.ServerCertificateValidation is { } validate)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = validate;
        }
        return new RpcChannel(address, handler, options);
    }

    /// <summary>Makes a unary call and returns the response.</summary>
    /// <exception cref="RpcException">The call ended with a non-OK status.</exception>
    public async Task<TResponse> UnaryAsync<TRequest, TResponse>(MethodDescriptor method, TRequest request, CallOptions options = default)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(request);
        using var call = new ClientCall<TResponse>(this, Resolve<TRequest, TResponse>(method, streaming: false), options);
        await call.StartAsync(request).ConfigureAwait(false);
        return await call.ReadSingleAsync().ConfigureAwait(false);
    }

    /// <summary>Makes a unary call and returns the response with its response headers and trailers.</summary>
    /// <exception cref="RpcException">The call ended with a non-OK status (its trailers are on the exception).</exception>
    public async Task<UnaryCallResult<TResponse>> UnaryCallAsync<TRequest, TResponse>(MethodDescriptor method, TRequest request, CallOptions options = default)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(request);
        using var call = new ClientCall<TResponse>(this, Resolve<TRequest, TResponse>(method, streaming: false), options);
        var headers = await call.StartAsync(request).ConfigureAwait(false);
        var response = await call.ReadSingleAsync().ConfigureAwait(false);
        return new UnaryCallResult<TResponse>(response, headers, call.Trailers ?? []);
    }

    /// <summary>Starts a server-streaming call; read it with <see cref="ServerStreamingCall{TResponse}.ReadAllAsync"/> and dispose it.</summary>
    public ServerStreamingCall<TResponse> ServerStreaming<TRequest, TResponse>(MethodDescriptor method, TRequest request, CallOptions options = default)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(request);
        var resolved = Resolve<TRequest, TResponse>(method, streaming: true);
        var previous = Activity.Current;
        var call = new ClientCall<TResponse>(this, resolved, options);
        try
        {
            return new ServerStreamingCall<TResponse>(call, call.StartAsync(request));
        }
        finally
        {
            // The call's activity must be current while the request is sent (so HttpClient propagates it), not in the caller afterwards.
            Activity.Current = previous;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposeInvoker)
        {
            _invoker.Dispose();
        }
    }

    internal Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _client is not null
            ? _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken)
            : _invoker.SendAsync(request, cancellationToken);

    private ClientMethod Resolve<TRequest, TResponse>(MethodDescriptor method, bool streaming)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(method);
        if (_methods.TryGetValue(method, out var cached))
        {
            return cached;
        }
        var name = $"/{method.Service.FullName}/{method.Name}";
        if (method.InputType.ClrType != typeof(TRequest) || method.OutputType.ClrType != typeof(TResponse))
        {
            throw new ArgumentException(
                $"gRPC method {name} takes {method.InputType.ClrType?.Name} and returns {method.OutputType.ClrType?.Name}, not {typeof(TRequest).Name} and {typeof(TResponse).Name}.",
                nameof(method));
        }
        if (method.IsClientStreaming || method.IsServerStreaming != streaming)
        {
            throw new ArgumentException(
                $"gRPC method {name} is {Kind(method)}; call it with {(method.IsServerStreaming ? nameof(ServerStreaming) : nameof(UnaryAsync))} (client streaming is not supported).",
                nameof(method));
        }
        var uri = new Uri(Address, name);
        return _methods.GetOrAdd(method, new ClientMethod(uri, method.Service.FullName, method.Name, method.OutputType.Parser));
    }

    private static string Kind(MethodDescriptor method) => (method.IsClientStreaming, method.IsServerStreaming) switch
    {
        (false, false) => "unary",
        (false, true) => "server-streaming",
        (true, false) => "client-streaming",
        _ => "bidirectional-streaming",
    };
}
