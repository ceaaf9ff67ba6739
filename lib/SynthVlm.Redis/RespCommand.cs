using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace SynthVlm.Redis;

/// <summary>
/// One encoded command waiting for its reply. The caller encodes synchronously into a pooled
/// buffer (its arguments may live on its stack); the writer loop copies it into the socket's pipe.
/// </summary>
internal sealed class RespCommand
{
    private readonly TaskCompletionSource<RedisResult> _reply = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private byte[]? _buffer;

    private RespCommand(string name, byte[] buffer, int length)
    {
        Name = name;
        _buffer = buffer;
        Length = length;
    }

    public string Name { get; }

    public int Length { get; }

    public Task<RedisResult> Reply => _reply.Task;

    public ReadOnlySpan<byte> Bytes => _buffer.AsSpan(0, Length);

    public static RespCommand Create(string command, ReadOnlySpan<RedisArg> args)
    {
        ArgumentException.ThrowIfNullOrEmpty(command);
        Span<byte> scratch = stackalloc byte[32];
        var nameLength = Encoding.UTF8.GetByteCount(command);
        var total = HeaderLength(args.Length + 1) + HeaderLength(nameLength) + nameLength + 2;
        // Lengths are computed once and reused so numbers are not formatted twice for sizing.
        var lengths = args.Length <= 64 ? stackalloc int[args.Length] : new int[args.Length];
        for (var i = 0; i < args.Length; i++)
        {
            lengths[i] = args[i].PayloadLength(scratch);
            total += HeaderLength(lengths[i]) + lengths[i] + 2;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(total);
        var span = buffer.AsSpan();
        var pos = WriteHeader(span, (byte)'*', args.Length + 1);
        pos += WriteHeader(span[pos..], (byte)'$', nameLength);
        pos += Encoding.UTF8.GetBytes(command, span[pos..]);
        pos += WriteCrlf(span[pos..]);
        for (var i = 0; i < args.Length; i++)
        {
            pos += WriteHeader(span[pos..], (byte)'$', lengths[i]);
            args[i].WritePayload(span.Slice(pos, lengths[i]));
            pos += lengths[i];
            pos += WriteCrlf(span[pos..]);
        }
        return new RespCommand(command, buffer, pos);
    }

    /// <summary>Stopwatch timestamp after which the sweeper fails the command; long.MaxValue for never.</summary>
    public long Deadline { get; private set; } = long.MaxValue;

    public TimeSpan Timeout { get; private set; }

    public bool IsDone => _reply.Task.IsCompleted;

    public void SetTimeout(TimeSpan timeout)
    {
        Timeout = timeout;
        Deadline = timeout == System.Threading.Timeout.InfiniteTimeSpan
            ? long.MaxValue
            : System.Diagnostics.Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
    }

    public void Expire(string endPoint) => _reply.TrySetException(RedisErrors.Timeout(endPoint, Name, Timeout));

    public void Cancel(CancellationToken token) => _reply.TrySetCanceled(token);

    public void ReleaseBuffer()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public bool Complete(RedisResult result) => _reply.TrySetResult(result);

    public void Fail(Exception error)
    {
        ReleaseBuffer();
        _reply.TrySetException(error);
    }

    private static int HeaderLength(int value) => 1 + DigitCount(value) + 2;

    private static int DigitCount(int value)
    {
        var digits = 1;
        while (value >= 10)
        {
            value /= 10;
            digits++;
        }
        return digits;
    }

    private static int WriteHeader(Span<byte> span, byte marker, int value)
    {
        span[0] = marker;
        Utf8Formatter.TryFormat(value, span[1..], out var n);
        span[1 + n] = (byte)'\r';
        span[2 + n] = (byte)'\n';
        return n + 3;
    }

    private static int WriteCrlf(Span<byte> span)
    {
        span[0] = (byte)'\r';
        span[1] = (byte)'\n';
        return 2;
    }
}
