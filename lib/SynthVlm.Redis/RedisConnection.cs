using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SynthVlm.Redis;

/// <summary>
/// One multiplexed socket to a Redis server: concurrent callers are pipelined, writes are batched
/// into one flush per wake-up of the writer, replies are matched to commands in FIFO order.
/// After a socket failure it reconnects by itself (exponential backoff with jitter); commands in
/// flight fail with <see cref="RedisConnectionException"/>, new ones wait for the reconnect up to
/// their timeout. Never send blocking commands (BLPOP, XREADGROUP BLOCK) on a connection shared
/// with other callers: they hold up every reply queued behind them. Open a dedicated one.
/// </summary>
public sealed partial class RedisConnection : IAsyncDisposable
{
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Lock _gate = new();
    private Link? _current;
    private TaskCompletionSource<Link> _ready = NewReady();
    private Task _reconnectLoop = Task.CompletedTask;
    private readonly Timer _sweeper;
    private int _disposed;
    private long _pushFrames;

    private RedisConnection(RedisConnectionOptions options, ILogger? logger)
    {
        Options = options;
        _logger = logger ?? NullLogger.Instance;
        // One timer per connection checks deadlines; its period bounds how late a timeout fires.
        var period = TimeSpan.FromMilliseconds(Math.Clamp(options.CommandTimeout.TotalMilliseconds / 20, 10, 100));
        _sweeper = new Timer(static s => ((RedisConnection)s!).Sweep(), this, period, period);
    }

    /// <summary>The options this connection was opened with.</summary>
    public RedisConnectionOptions Options { get; }

    /// <summary>The server endpoint as <c>host:port</c>.</summary>
    public string EndPoint => Options.EndPoint;

    /// <summary>Whether a live socket is open right now (false while reconnecting).</summary>
    public bool IsConnected => _current is { IsFaulted: false };

    /// <summary>The protocol the server agreed to on the latest handshake.</summary>
    public RedisProtocol NegotiatedProtocol { get; private set; }

    /// <summary>RESP3 push frames received and set aside (they are never a command's reply).</summary>
    public long PushFramesIgnored => Interlocked.Read(ref _pushFrames);

    /// <summary>The server's version from the latest HELLO, or null when it was not reported.</summary>
    public string? ServerVersion { get; private set; }

    /// <summary>Connects and runs the handshake (HELLO 3 with AUTH/SETNAME or AUTH + RESP2, then SELECT).</summary>
    /// <exception cref="RedisConnectionException">The server cannot be reached within <see cref="RedisConnectionOptions.ConnectTimeout"/>.</exception>
    /// <exception cref="RedisAuthenticationException">A password is required or was rejected.</exception>
    public static async Task<RedisConnection> ConnectAsync(RedisConnectionOptions options, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var connection = new RedisConnection(options, logger);
        try
        {
            var link = await connection.OpenLinkAsync(cancellationToken).ConfigureAwait(false);
            if (!connection.TryPublish(link))
            {
                throw RedisErrors.CannotConnect(options.EndPoint, "the connection closed right after the handshake", null);
            }
            Log.Connected(connection._logger, options.EndPoint, connection.NegotiatedProtocol);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Sends a command and awaits its reply (bounded by <see cref="RedisConnectionOptions.CommandTimeout"/>).</summary>
    /// <exception cref="RedisServerException">The server answered with an error.</exception>
    /// <exception cref="RedisTimeoutException">No reply within the timeout.</exception>
    /// <exception cref="RedisConnectionException">The socket failed while the command was in flight.</exception>
    public Task<RedisResult> ExecuteAsync(string command, params ReadOnlySpan<RedisArg> args) =>
        ExecuteAsync(command, Options.CommandTimeout, CancellationToken.None, args);

    /// <summary>Sends a command and awaits its reply, cancellable.</summary>
    /// <inheritdoc cref="ExecuteAsync(string, ReadOnlySpan{RedisArg})" path="/exception"/>
    public Task<RedisResult> ExecuteAsync(string command, CancellationToken cancellationToken, params ReadOnlySpan<RedisArg> args) =>
        ExecuteAsync(command, Options.CommandTimeout, cancellationToken, args);

    /// <summary>Sends a command with its own timeout (e.g. longer than a BLOCK argument) and awaits its reply.</summary>
    /// <inheritdoc cref="ExecuteAsync(string, ReadOnlySpan{RedisArg})" path="/exception"/>
    public Task<RedisResult> ExecuteAsync(string command, TimeSpan timeout, CancellationToken cancellationToken, params ReadOnlySpan<RedisArg> args)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return Task.FromException<RedisResult>(RedisErrors.Disposed(EndPoint));
        }
        var cmd = RespCommand.Create(command, args);
        return SendAsync(cmd, timeout, cancellationToken);
    }

    /// <summary>Closes the socket; commands in flight fail, and no reconnect follows.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _lifetime.CancelAsync().ConfigureAwait(false);
        await _sweeper.DisposeAsync().ConfigureAwait(false);
        Link? link;
        Task reconnect;
        lock (_gate)
        {
            link = _current;
            _current = null;
            _ready.TrySetException(RedisErrors.Disposed(EndPoint));
            reconnect = _reconnectLoop;
        }
        if (link is not null)
        {
            link.Fault(RedisErrors.Disposed(EndPoint));
            await link.Completion.ConfigureAwait(false);
        }
        await reconnect.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _lifetime.Dispose();
    }

    private static TaskCompletionSource<Link> NewReady() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private async Task<RedisResult> SendAsync(RespCommand cmd, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        cmd.SetTimeout(timeout);
        var enqueued = false;
        RedisResult result;
        // Timeouts come from the connection's sweeper, not a timer per command; cancellation from
        // a registration only when the token can actually fire.
        using var registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static (state, token) => ((RespCommand)state!).Cancel(token), cmd)
            : default;
        try
        {
            while (!enqueued)
            {
                var link = _current;
                if (link is null || link.IsFaulted)
                {
                    Task<Link> ready;
                    lock (_gate)
                    {
                        ready = _ready.Task;
                    }
                    link = await ready.WaitAsync(Remaining(start, timeout), cancellationToken).ConfigureAwait(false);
                }
                enqueued = link.TryEnqueue(cmd);
            }
            result = await cmd.Reply.ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw RedisErrors.Timeout(EndPoint, cmd.Name, timeout);
        }
        finally
        {
            if (!enqueued)
            {
                // Only a command that never reached the writer still owns its buffer.
                cmd.ReleaseBuffer();
            }
        }
        if (result.IsError)
        {
            throw RedisErrors.ServerError(EndPoint, cmd.Name, result.AsString() ?? "", handshake: false, Options.User);
        }
        return result;
    }

    private void Sweep()
    {
        _current?.Sweep(Stopwatch.GetTimestamp());
    }

    private static TimeSpan Remaining(long start, TimeSpan timeout)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return timeout;
        }
        var left = timeout - Stopwatch.GetElapsedTime(start);
        return left > TimeSpan.Zero ? left : TimeSpan.FromTicks(1);
    }

    private bool TryPublish(Link link)
    {
        lock (_gate)
        {
            if (link.IsFaulted || Volatile.Read(ref _disposed) != 0)
            {
                return false;
            }
            _current = link;
            _ready.TrySetResult(link);
            return true;
        }
    }

    private void OnLinkFault(Link link, Exception? cause)
    {
        lock (_gate)
        {
            if (_current != link)
            {
                return;
            }
            _current = null;
            if (_ready.Task.IsCompleted)
            {
                _ready = NewReady();
            }
            if (Volatile.Read(ref _disposed) != 0)
            {
                return;
            }
            Log.ConnectionLost(_logger, EndPoint, cause?.Message ?? "closed");
            _reconnectLoop = Task.Run(ReconnectLoopAsync);
        }
    }

    private async Task ReconnectLoopAsync()
    {
        var token = _lifetime.Token;
        for (var attempt = 1; !token.IsCancellationRequested; attempt++)
        {
            try
            {
                await Task.Delay(Backoff(attempt), token).ConfigureAwait(false);
                var link = await OpenLinkAsync(token).ConfigureAwait(false);
                if (TryPublish(link))
                {
                    Log.Reconnected(_logger, EndPoint, attempt);
                    return;
                }
                link.Fault(null);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is RedisException or IOException or SocketException or OperationCanceledException)
            {
                Log.ReconnectFailed(_logger, EndPoint, attempt, ex.Message);
            }
        }
    }

    private TimeSpan Backoff(int attempt)
    {
        // Exponential, capped, with "equal jitter" so a fleet of replicas does not reconnect in lockstep.
        var baseMs = Options.ReconnectBaseDelay.TotalMilliseconds;
        var capped = Math.Min(Options.ReconnectMaxDelay.TotalMilliseconds, baseMs * Math.Pow(2, Math.Min(attempt - 1, 20)));
        return TimeSpan.FromMilliseconds((capped / 2) + (Random.Shared.NextDouble() * capped / 2));
    }

    private async Task<Link> OpenLinkAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        timeout.CancelAfter(Options.ConnectTimeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream stream;
        try
        {
            await socket.ConnectAsync(Options.Host, Options.Port, timeout.Token).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (Options.UseTls)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = Options.Host }, timeout.Token).ConfigureAwait(false);
                stream = ssl;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !_lifetime.IsCancellationRequested)
        {
            socket.Dispose();
            throw RedisErrors.CannotConnect(EndPoint, $"no answer within {Options.ConnectTimeout.TotalMilliseconds:0} ms (connectTimeout)", null);
        }
        catch (Exception ex) when (ex is SocketException or IOException or System.Security.Authentication.AuthenticationException)
        {
            socket.Dispose();
            throw RedisErrors.CannotConnect(EndPoint, ex.Message, ex);
        }
        var link = new Link(this, socket, stream);
        try
        {
            await HandshakeAsync(link, timeout.Token).ConfigureAwait(false);
            return link;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !_lifetime.IsCancellationRequested)
        {
            link.Fault(null);
            throw RedisErrors.CannotConnect(EndPoint, $"no handshake reply within {Options.ConnectTimeout.TotalMilliseconds:0} ms (connectTimeout)", null);
        }
        catch
        {
            link.Fault(null);
            throw;
        }
    }

    private async Task HandshakeAsync(Link link, CancellationToken cancellationToken)
    {
        var resp2 = Options.Protocol == RedisProtocol.Resp2;
        if (!resp2)
        {
            var args = new List<RedisArg>(6) { "3" };
            if (Options.Password is not null)
            {
                args.Add("AUTH");
                args.Add(Options.User ?? "default");
                args.Add(Options.Password);
            }
            if (Options.ClientName is not null)
            {
                args.Add("SETNAME");
                args.Add(Options.ClientName);
            }
            var hello = await HandshakeCommandAsync(link, "HELLO", [.. args], cancellationToken, throwOnError: false).ConfigureAwait(false);
            if (hello.IsError)
            {
                var text = hello.AsString() ?? "";
                if (text.StartsWith("NOPROTO", StringComparison.Ordinal) || text.StartsWith("ERR unknown command", StringComparison.Ordinal))
                {
                    // Servers older than 6 have no HELLO; they speak RESP2 with AUTH.
                    resp2 = true;
                }
                else
                {
                    throw RedisErrors.ServerError(EndPoint, "HELLO", text, handshake: true, Options.User);
                }
            }
            else
            {
                NegotiatedProtocol = RedisProtocol.Resp3;
                ServerVersion = hello.AsMap().TryGetValue("version", out var v) ? v.AsString() : null;
            }
        }
        if (resp2)
        {
            NegotiatedProtocol = RedisProtocol.Resp2;
            if (Options.Password is not null)
            {
                RedisArg[] auth = Options.User is null ? [Options.Password] : [Options.User, Options.Password];
                await HandshakeCommandAsync(link, "AUTH", auth, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                // Surfaces NOAUTH at connect time instead of on the first real command.
                await HandshakeCommandAsync(link, "PING", [], cancellationToken).ConfigureAwait(false);
            }
            if (Options.ClientName is not null)
            {
                await HandshakeCommandAsync(link, "CLIENT", ["SETNAME", Options.ClientName], cancellationToken).ConfigureAwait(false);
            }
        }
        if (Options.Database != 0)
        {
            await HandshakeCommandAsync(link, "SELECT", [Options.Database], cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<RedisResult> HandshakeCommandAsync(Link link, string command, RedisArg[] args, CancellationToken cancellationToken, bool throwOnError = true)
    {
        var cmd = RespCommand.Create(command, args);
        if (!link.TryEnqueue(cmd))
        {
            cmd.ReleaseBuffer();
            throw RedisErrors.CannotConnect(EndPoint, "the connection closed during the handshake", null);
        }
        RedisResult result;
        try
        {
            result = await cmd.Reply.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (RedisConnectionException ex)
        {
            throw RedisErrors.CannotConnect(EndPoint, "the connection closed during the handshake", ex);
        }
        if (throwOnError && result.IsError)
        {
            throw RedisErrors.ServerError(EndPoint, command, result.AsString() ?? "", handshake: true, Options.User);
        }
        return result;
    }

    /// <summary>One socket's lifetime: its writer loop, reader loop and the FIFO of commands awaiting replies.</summary>
    private sealed class Link
    {
        private const int FlushThreshold = 64 * 1024;

        private readonly RedisConnection _owner;
        private readonly Socket _socket;
        private readonly Stream _stream;
        private readonly PipeReader _reader;
        private readonly PipeWriter _writer;
        private readonly ConcurrentQueue<RespCommand> _outbox = new();
        private readonly SemaphoreSlim _wake = new(0);
        private int _awake;
        private readonly ConcurrentQueue<RespCommand> _inFlight = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly RespFrameScanner _scanner = new();
        private Exception? _cause;
        private int _faulted;

        public Link(RedisConnection owner, Socket socket, Stream stream)
        {
            _owner = owner;
            _socket = socket;
            _stream = stream;
            _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
            _writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
            Completion = Task.WhenAll(Task.Run(WriteLoopAsync), Task.Run(ReadLoopAsync));
        }

        public bool IsFaulted => Volatile.Read(ref _faulted) != 0;

        public Task Completion { get; }

        public bool TryEnqueue(RespCommand cmd)
        {
            if (IsFaulted)
            {
                return false;
            }
            _outbox.Enqueue(cmd);
            if (Interlocked.Exchange(ref _awake, 1) == 0)
            {
                _wake.Release();
            }
            if (IsFaulted)
            {
                // Raced with Fault's drain: drain again so the command cannot be stranded.
                Drain();
            }
            return true;
        }

        public void Sweep(long now)
        {
            // ConcurrentQueue enumeration is a moment-in-time snapshot: safe beside the loops.
            foreach (var cmd in _outbox)
            {
                if (cmd.Deadline < now)
                {
                    cmd.Expire(_owner.EndPoint);
                }
            }
            foreach (var cmd in _inFlight)
            {
                if (cmd.Deadline < now)
                {
                    cmd.Expire(_owner.EndPoint);
                }
            }
        }

        public void Fault(Exception? cause)
        {
            if (Interlocked.Exchange(ref _faulted, 1) != 0)
            {
                return;
            }
            _cause = cause;
            // The owner stops handing out this link before the outbox closes, so no caller spins on it.
            _owner.OnLinkFault(this, cause);
            _stop.Cancel();
            try
            {
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Already closed by the peer; nothing to shut down.
            }
            _stream.Dispose();
            Drain();
        }

        private void Drain()
        {
            while (_outbox.TryDequeue(out var cmd))
            {
                cmd.ReleaseBuffer();
                cmd.Fail(_cause as RedisConnectionException ?? RedisErrors.ConnectionLost(_owner.EndPoint, cmd.Name, _cause));
            }
            while (_inFlight.TryDequeue(out var cmd))
            {
                cmd.Fail(_cause as RedisConnectionException ?? RedisErrors.ConnectionLost(_owner.EndPoint, cmd.Name, _cause));
            }
        }

        private async Task WriteLoopAsync()
        {
            try
            {
                while (true)
                {
                    await _wake.WaitAsync(_stop.Token).ConfigureAwait(false);
                    // A full fence, so an item enqueued before a skipped wake-up is seen by the dequeue below.
                    Interlocked.Exchange(ref _awake, 0);
                    while (_outbox.TryDequeue(out var cmd))
                    {
                        if (cmd.IsDone)
                        {
                            // Timed out or cancelled before it was written: no reply will be expected.
                            cmd.ReleaseBuffer();
                            continue;
                        }
                        // Enqueue before writing: the reply may arrive before this loop continues.
                        _inFlight.Enqueue(cmd);
                        _writer.Write(cmd.Bytes);
                        cmd.ReleaseBuffer();
                        if (_writer.UnflushedBytes >= FlushThreshold)
                        {
                            await FlushAsync().ConfigureAwait(false);
                        }
                    }
                    await FlushAsync().ConfigureAwait(false);
                }
            }
            catch (Exception ex)
            {
                Fault(ex is OperationCanceledException ? null : ex);
            }
            finally
            {
                Drain();
                await CompleteQuietlyAsync(_writer.CompleteAsync()).ConfigureAwait(false);
            }
        }

        private static async Task CompleteQuietlyAsync(ValueTask completion)
        {
            try
            {
                await completion.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException or OperationCanceledException)
            {
                // The stream is already gone; completing the pipe only releases its buffers.
            }
        }

        private async ValueTask FlushAsync()
        {
            var flushed = await _writer.FlushAsync(_stop.Token).ConfigureAwait(false);
            if (flushed.IsCompleted || flushed.IsCanceled)
            {
                throw new IOException("The socket's writer was closed.");
            }
        }

        private async Task ReadLoopAsync()
        {
            try
            {
                while (true)
                {
                    var read = await _reader.ReadAsync(_stop.Token).ConfigureAwait(false);
                    var buffer = read.Buffer;
                    var consumed = ProcessReplies(buffer);
                    _reader.AdvanceTo(consumed, buffer.End);
                    if (read.IsCompleted || read.IsCanceled)
                    {
                        throw new IOException("The server closed the connection.");
                    }
                }
            }
            catch (Exception ex)
            {
                Fault(ex is OperationCanceledException ? null : ex);
            }
            finally
            {
                Drain();
                await CompleteQuietlyAsync(_reader.CompleteAsync()).ConfigureAwait(false);
            }
        }

        private SequencePosition ProcessReplies(ReadOnlySequence<byte> buffer)
        {
            var reader = new SequenceReader<byte>(buffer);
            while (_scanner.TryFindEnd(buffer.Slice(reader.Position), out var frameLength))
            {
                var frame = buffer.Slice(reader.Position, frameLength);
                if (!RespParser.TryRead(frame, out var result, out var end) || !end.Equals(frame.End))
                {
                    throw new RedisProtocolException($"Redis at {_owner.EndPoint} sent a frame the parser could not read as one value.");
                }
                reader.Advance(frameLength);
                if (result.Type == RedisResultType.Push)
                {
                    // Out-of-band (client tracking, pub/sub): never a command's reply.
                    Interlocked.Increment(ref _owner._pushFrames);
                    Log.PushIgnored(_owner._logger, _owner.EndPoint);
                    continue;
                }
                if (!_inFlight.TryDequeue(out var cmd))
                {
                    throw new RedisProtocolException($"Redis at {_owner.EndPoint} sent a reply ({result}) with no command in flight.");
                }
                cmd.Complete(result);
            }
            return reader.Position;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "Connected to Redis at {EndPoint} ({Protocol})")]
        public static partial void Connected(ILogger logger, string endPoint, RedisProtocol protocol);

        [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Lost the connection to Redis at {EndPoint}: {Reason}; reconnecting")]
        public static partial void ConnectionLost(ILogger logger, string endPoint, string reason);

        [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Reconnected to Redis at {EndPoint} after {Attempts} attempt(s)")]
        public static partial void Reconnected(ILogger logger, string endPoint, int attempts);

        [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Reconnect attempt {Attempt} to Redis at {EndPoint} failed: {Reason}")]
        public static partial void ReconnectFailed(ILogger logger, string endPoint, int attempt, string reason);

        [LoggerMessage(EventId = 5, Level = LogLevel.Trace, Message = "Ignored a RESP3 push frame from {EndPoint}")]
        public static partial void PushIgnored(ILogger logger, string endPoint);
    }
}
