using System.Buffers;

namespace SynthVlm.Captions.Internal;

/// <summary>
/// A pooled window over a stream: bytes not yet consumed stay at the front, more are read behind them, and the buffer
/// grows only up to a fixed capacity, so memory is bounded by one record whatever the file size.
/// A UTF-8 byte order mark at the start of the stream is dropped.
/// </summary>
internal sealed class ByteWindow : IDisposable
{
    private readonly Stream _stream;
    private readonly int _maxCapacity;
    private byte[] _buffer;
    private int _start;
    private int _end;
    private bool _bomChecked;

    public ByteWindow(Stream stream, int initialCapacity, int maxCapacity)
    {
        _stream = stream;
        _maxCapacity = Math.Max(maxCapacity, initialCapacity);
        _buffer = ArrayPool<byte>.Shared.Rent(initialCapacity);
        PeakBufferBytes = _buffer.Length;
    }

    /// <summary>The unconsumed bytes; valid until the next <see cref="Consume"/> or <see cref="Fill"/>.</summary>
    public ReadOnlySpan<byte> Data => _buffer.AsSpan(_start, _end - _start);

    /// <summary>True once the stream has no more bytes.</summary>
    public bool Eof { get; private set; }

    /// <summary>The largest buffer this window has held, in bytes.</summary>
    public int PeakBufferBytes { get; private set; }

    /// <summary>True when the buffer is at its bound and full, so <see cref="Fill"/> cannot add bytes.</summary>
    public bool AtCapacity => _start == 0 && _end == _buffer.Length && _buffer.Length >= _maxCapacity;

    public void Consume(int count)
    {
        _start += count;
        if (_start == _end)
        {
            _start = _end = 0;
        }
    }

    /// <summary>Reads more bytes behind the unconsumed ones; false when none came (end of stream or buffer at its bound).</summary>
    public bool Fill()
    {
        if (Eof)
        {
            return false;
        }
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
        {
            if (_buffer.Length >= _maxCapacity)
            {
                return false;
            }
            var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)_buffer.Length * 2, _maxCapacity));
            _buffer.AsSpan(0, _end).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
            PeakBufferBytes = Math.Max(PeakBufferBytes, _buffer.Length);
        }
        var before = _end;
        do
        {
            // The first fill reads at least three bytes (or to the end) so a byte order mark is dropped before anyone
            // has looked at the data.
            var read = _stream.Read(_buffer, _end, _buffer.Length - _end);
            if (read == 0)
            {
                Eof = true;
                break;
            }
            _end += read;
        }
        while (!_bomChecked && _end < 3);
        DropBom();
        return _end > before;
    }

    private void DropBom()
    {
        if (_bomChecked)
        {
            return;
        }
        _bomChecked = true;
        if (Data.StartsWith("\uFEFF"u8))
        {
            Consume(3);
        }
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
        _start = _end = 0;
    }
}
