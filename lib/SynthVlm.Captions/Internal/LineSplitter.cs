namespace SynthVlm.Captions.Internal;

/// <summary>What <see cref="LineSplitter.Next"/> found.</summary>
internal enum LineKind
{
    End,
    Line,
    TooLong,
}

/// <summary>
/// Splits a stream into lines (LF or CRLF) without holding more than one line: a line longer than the bound is
/// reported as <see cref="LineKind.TooLong"/> and skipped through its newline without being buffered.
/// </summary>
internal sealed class LineSplitter
{
    private readonly ByteWindow _window;
    private readonly int _maxLineBytes;
    private long _nextLine = 1;
    private int _pendingConsume;
    private int _scanned;

    public LineSplitter(ByteWindow window, int maxLineBytes)
    {
        _window = window;
        _maxLineBytes = maxLineBytes;
    }

    /// <summary>
    /// The next line without its terminator; <paramref name="line"/> is its 1-based number and <paramref name="bytes"/>
    /// is valid until the next call.
    /// </summary>
    public LineKind Next(out long line, out ReadOnlySpan<byte> bytes)
    {
        _window.Consume(_pendingConsume);
        _pendingConsume = 0;
        while (true)
        {
            var data = _window.Data;
            var newline = data[_scanned..].IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var length = _scanned + newline;
                _scanned = 0;
                _pendingConsume = length + 1;
                line = _nextLine++;
                if (length > _maxLineBytes)
                {
                    bytes = default;
                    return LineKind.TooLong;
                }
                bytes = TrimCr(data[..length]);
                return LineKind.Line;
            }
            _scanned = data.Length;
            if (data.Length > _maxLineBytes)
            {
                line = _nextLine++;
                SkipThroughNewline();
                bytes = default;
                return LineKind.TooLong;
            }
            if (!_window.Fill())
            {
                if (!_window.Eof)
                {
                    // Unreachable while the window's bound exceeds the line bound; kept so a mistake cannot spin.
                    throw new InvalidOperationException("The line buffer is full below the line bound.");
                }
                _scanned = 0;
                if (data.Length == 0)
                {
                    line = _nextLine;
                    bytes = default;
                    return LineKind.End;
                }
                _pendingConsume = data.Length;
                line = _nextLine++;
                bytes = TrimCr(data);
                return LineKind.Line;
            }
        }
    }

    private void SkipThroughNewline()
    {
        _scanned = 0;
        while (true)
        {
            var data = _window.Data;
            var newline = data.IndexOf((byte)'\n');
            if (newline >= 0)
            {
                _window.Consume(newline + 1);
                return;
            }
            _window.Consume(data.Length);
            if (!_window.Fill())
            {
                return;
            }
        }
    }

    private static ReadOnlySpan<byte> TrimCr(ReadOnlySpan<byte> line) =>
        line.Length > 0 && line[^1] == (byte)'\r' ? line[..^1] : line;
}
