using System.Buffers;

namespace SynthVlm.Captions.Internal;

/// <summary>What <see cref="DelimitedSplitter.Next"/> found.</summary>
internal enum RowKind
{
    End,
    Row,
    TooLong,
    Unterminated,
}

/// <summary>
/// Splits CSV/TSV bytes into rows the way RFC 4180 does: a field that starts with a quote may hold delimiters, quotes
/// (doubled) and newlines. A row longer than the bound is skipped without being buffered, resuming at the next newline
/// (a stray quote must not swallow the rest of the file).
/// </summary>
internal sealed class DelimitedSplitter
{
    private readonly ByteWindow _window;
    private readonly byte _delimiter;
    private readonly int _maxRowBytes;
    private readonly SearchValues<byte> _unquotedStops;
    private long _nextLine = 1;
    private int _pendingConsume;
    private int _scanned;
    private ScanState _state;
    private int _newlinesInRow;

    public DelimitedSplitter(ByteWindow window, byte delimiter, int maxRowBytes)
    {
        _window = window;
        _delimiter = delimiter;
        _maxRowBytes = maxRowBytes;
        _unquotedStops = SearchValues.Create([delimiter, (byte)'\n']);
    }

    private enum ScanState
    {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }

    /// <summary>The next non-blank row without its terminator; <paramref name="bytes"/> is valid until the next call.</summary>
    public RowKind Next(out long line, out ReadOnlySpan<byte> bytes)
    {
        while (true)
        {
            var kind = NextRaw(out line, out bytes);
            if (kind != RowKind.Row || !bytes.IsEmpty)
            {
                return kind;
            }
        }
    }

    private RowKind NextRaw(out long line, out ReadOnlySpan<byte> bytes)
    {
        _window.Consume(_pendingConsume);
        _pendingConsume = 0;
        bytes = default;
        while (true)
        {
            var data = _window.Data;
            var end = Scan(data);
            if (end >= 0)
            {
                line = _nextLine;
                _nextLine += 1 + _newlinesInRow;
                ResetScan();
                _pendingConsume = end + 1;
                if (end > _maxRowBytes)
                {
                    return RowKind.TooLong;
                }
                bytes = TrimCr(data[..end]);
                return RowKind.Row;
            }
            if (data.Length > _maxRowBytes)
            {
                // Resume after the row's first line: if a stray quote made the row run on, the lines it swallowed
                // are read again as rows of their own.
                line = _nextLine;
                _nextLine++;
                ResetScan();
                SkipThroughNewline();
                return RowKind.TooLong;
            }
            if (!_window.Fill())
            {
                if (!_window.Eof)
                {
                    throw new InvalidOperationException("The row buffer is full below the row bound.");
                }
                line = _nextLine;
                if (data.Length == 0)
                {
                    return RowKind.End;
                }
                var unterminated = _state == ScanState.Quoted;
                _nextLine += 1 + _newlinesInRow;
                ResetScan();
                _pendingConsume = data.Length;
                bytes = TrimCr(data);
                return unterminated ? RowKind.Unterminated : RowKind.Row;
            }
        }
    }

    /// <summary>Continues the scan from where the last window ended; the row's end offset, or -1 when more bytes are needed.</summary>
    private int Scan(ReadOnlySpan<byte> data)
    {
        var i = _scanned;
        while (i < data.Length)
        {
            switch (_state)
            {
                case ScanState.FieldStart:
                    var first = data[i];
                    if (first == (byte)'\n')
                    {
                        return i;
                    }
                    _state = first == (byte)'"' ? ScanState.Quoted : first == _delimiter ? ScanState.FieldStart : ScanState.Unquoted;
                    i++;
                    break;
                case ScanState.Unquoted:
                    var stop = data[i..].IndexOfAny(_unquotedStops);
                    if (stop < 0)
                    {
                        i = data.Length;
                        break;
                    }
                    i += stop;
                    if (data[i] == (byte)'\n')
                    {
                        return i;
                    }
                    _state = ScanState.FieldStart;
                    i++;
                    break;
                case ScanState.Quoted:
                    var quote = data[i..].IndexOf((byte)'"');
                    var upTo = quote < 0 ? data.Length : i + quote;
                    _newlinesInRow += data[i..upTo].Count((byte)'\n');
                    if (quote >= 0)
                    {
                        _state = ScanState.QuoteInQuoted;
                        upTo++;
                    }
                    i = upTo;
                    break;
                default:
                    var next = data[i];
                    if (next == (byte)'\n')
                    {
                        return i;
                    }
                    _state = next == (byte)'"' ? ScanState.Quoted : next == _delimiter ? ScanState.FieldStart : ScanState.Unquoted;
                    i++;
                    break;
            }
        }
        _scanned = i;
        return -1;
    }

    private void ResetScan()
    {
        _scanned = 0;
        _state = ScanState.FieldStart;
        _newlinesInRow = 0;
    }

    private void SkipThroughNewline()
    {
        var data = _window.Data;
        while (true)
        {
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
            data = _window.Data;
        }
    }

    /// <summary>
    /// Splits one row into fields, unquoting into <paramref name="scratch"/> (at least as long as the row);
    /// <paramref name="fields"/> receives each field's range in it.
    /// </summary>
    public static void SplitFields(ReadOnlySpan<byte> row, byte delimiter, Span<byte> scratch, List<Range> fields)
    {
        fields.Clear();
        var state = ScanState.FieldStart;
        var written = 0;
        var fieldStart = 0;
        foreach (var b in row)
        {
            switch (state)
            {
                case ScanState.FieldStart when b == (byte)'"':
                    state = ScanState.Quoted;
                    continue;
                case ScanState.Quoted when b == (byte)'"':
                    state = ScanState.QuoteInQuoted;
                    continue;
                case ScanState.Quoted:
                    break;
                case ScanState.QuoteInQuoted when b == (byte)'"':
                    state = ScanState.Quoted;
                    break;
                default:
                    if (b == delimiter)
                    {
                        fields.Add(fieldStart..written);
                        fieldStart = written;
                        state = ScanState.FieldStart;
                        continue;
                    }
                    state = ScanState.Unquoted;
                    break;
            }
            scratch[written++] = b;
        }
        fields.Add(fieldStart..written);
    }

    private static ReadOnlySpan<byte> TrimCr(ReadOnlySpan<byte> row) =>
        row.Length > 0 && row[^1] == (byte)'\r' ? row[..^1] : row;
}
