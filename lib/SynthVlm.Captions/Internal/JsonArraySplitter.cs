using System.Text.Json;

namespace SynthVlm.Captions.Internal;

/// <summary>What <see cref="JsonArraySplitter.Next"/> found.</summary>
internal enum JsonElementKind
{
    /// <summary>The array ended (or the file is empty).</summary>
    End,

    /// <summary>An object or array element, whole, in the bytes returned.</summary>
    Container,

    /// <summary>A string, number, true, false or null element, in the bytes returned.</summary>
    Scalar,

    /// <summary>An element longer than the bound; it was skipped token by token without being buffered.</summary>
    TooLarge,

    /// <summary>The JSON is malformed; nothing after it can be read.</summary>
    SyntaxError,
}

/// <summary>
/// Walks a top-level JSON array incrementally with <see cref="Utf8JsonReader"/> over a refilled window, handing out
/// each element's bytes on their own so they can be parsed separately. Only one element is ever buffered; a larger one
/// is skipped token by token. A syntax error ends the walk, because a JSON array cannot be resynchronised.
/// </summary>
internal sealed class JsonArraySplitter
{
    private readonly ByteWindow _window;
    private readonly int _maxElementBytes;
    private readonly string _path;
    /// <summary>Step's answer for "the window moved on; look again without reading more".</summary>
    private const JsonElementKind Continue = (JsonElementKind)(-1);

    private JsonReaderState _state;
    private long _lineAtStart = 1;
    private long _lineBase;
    private (long Line, string Detail)? _pendingError;
    private int _pendingConsume;
    private Phase _phase = Phase.BeforeArray;

    public JsonArraySplitter(ByteWindow window, int maxElementBytes, string path)
    {
        _window = window;
        _maxElementBytes = maxElementBytes;
        _path = path;
    }

    private enum Phase
    {
        BeforeArray,
        InArray,
        AfterArray,
        Done,
    }

    /// <summary>
    /// The next element. <paramref name="line"/> is the 1-based line where it starts; <paramref name="bytes"/> (valid until
    /// the next call) holds it for <see cref="JsonElementKind.Container"/> and <see cref="JsonElementKind.Scalar"/>;
    /// <paramref name="detail"/> is the token type or the syntax error's message.
    /// </summary>
    /// <exception cref="CaptionPoolFormatException">The file's first value is not an array.</exception>
    public JsonElementKind Next(out long line, out ReadOnlySpan<byte> bytes, out string? detail)
    {
        Consume(_pendingConsume);
        _pendingConsume = 0;
        bytes = default;
        detail = null;
        line = _lineAtStart;
        if (_pendingError is { } error)
        {
            _phase = Phase.Done;
            (line, detail) = error;
            _pendingError = null;
            return JsonElementKind.SyntaxError;
        }
        while (_phase != Phase.Done)
        {
            if (_phase == Phase.BeforeArray && SkipLeadingWhitespace())
            {
                // An empty (or whitespace-only) file is an empty pool.
                _phase = Phase.Done;
                break;
            }
            var data = _window.Data;
            var reader = new Utf8JsonReader(data, _window.Eof, _state);
            JsonElementKind? found;
            try
            {
                found = Step(ref reader, data, out line, out var start, out var end, out detail);
                if (found is JsonElementKind.Container or JsonElementKind.Scalar)
                {
                    bytes = data[start..end];
                }
            }
            catch (JsonException ex)
            {
                _phase = Phase.Done;
                line = ex.LineNumber is { } l ? _lineBase + l + 1 : _lineAtStart;
                detail = ex.Message;
                return JsonElementKind.SyntaxError;
            }
            if (found is { } kind)
            {
                if (kind == Continue)
                {
                    continue;
                }
                return kind;
            }
            if (_window.Eof)
            {
                // The reader throws on truncated input in a final block, so this only guards against a silent loop.
                _phase = Phase.Done;
                line = _lineAtStart;
                detail = "the file ends inside the array";
                return JsonElementKind.SyntaxError;
            }
            if (!_window.Fill() && !_window.Eof)
            {
                // The window is full and the reader still cannot finish a token: an element (or one string in it) is
                // larger than the bound. Only possible inside the array; before or after it, one token is all there is.
                if (_phase != Phase.InArray)
                {
                    _phase = Phase.Done;
                    line = _lineAtStart;
                    detail = $"a single JSON token is longer than {_maxElementBytes} bytes";
                    return JsonElementKind.SyntaxError;
                }
                if (TrySkipOversized(ElementStart(_window.Data), out line, out detail))
                {
                    return JsonElementKind.TooLarge;
                }
                _phase = Phase.Done;
                return JsonElementKind.SyntaxError;
            }
        }
        return JsonElementKind.End;
    }

    /// <summary>One step on the current window; null means more bytes are needed.</summary>
    private JsonElementKind? Step(ref Utf8JsonReader reader, ReadOnlySpan<byte> data, out long line, out int start, out int end, out string? detail)
    {
        line = _lineAtStart;
        start = end = 0;
        detail = null;
        switch (_phase)
        {
            case Phase.BeforeArray:
                if (!reader.Read())
                {
                    return null;
                }
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    throw CaptionPoolFormatException.For(_path,
                        $"expected a JSON array ('[') but line {LineOf(data, (int)reader.TokenStartIndex)} starts a {reader.TokenType}.");
                }
                Advance(ref reader, data);
                _phase = Phase.InArray;
                return Continue;
            case Phase.InArray:
                return StepInArray(ref reader, data, out line, out start, out end, out detail);
            case Phase.AfterArray:
                if (reader.Read())
                {
                    throw new JsonException($"unexpected {reader.TokenType} after the array's closing ']'", null,
                        LineOf(data, (int)reader.TokenStartIndex) - 1 - _lineBase, null);
                }
                if (_window.Eof)
                {
                    _phase = Phase.Done;
                    return JsonElementKind.End;
                }
                Advance(ref reader, data);
                return null;
            default:
                return JsonElementKind.End;
        }
    }

    private JsonElementKind? StepInArray(ref Utf8JsonReader reader, ReadOnlySpan<byte> data, out long line, out int start, out int end, out string? detail)
    {
        line = _lineAtStart;
        start = end = 0;
        detail = null;
        if (!reader.Read())
        {
            return null;
        }
        if (reader.TokenType == JsonTokenType.EndArray)
        {
            Advance(ref reader, data);
            _phase = Phase.AfterArray;
            return Continue;
        }
        start = (int)reader.TokenStartIndex;
        line = LineOf(data, start);
        detail = reader.TokenType.ToString();
        if (reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
        {
            end = (int)reader.BytesConsumed;
            if (end - start > _maxElementBytes)
            {
                Advance(ref reader, data);
                return JsonElementKind.TooLarge;
            }
            _state = reader.CurrentState;
            _pendingConsume = end;
            return JsonElementKind.Scalar;
        }
        if (reader.TrySkip())
        {
            end = (int)reader.BytesConsumed;
            if (end - start > _maxElementBytes)
            {
                Advance(ref reader, data);
                return JsonElementKind.TooLarge;
            }
            _state = reader.CurrentState;
            _pendingConsume = end;
            return JsonElementKind.Container;
        }
        if (data.Length - start <= _maxElementBytes)
        {
            return null;
        }
        if (TrySkipOversized(start, out line, out detail))
        {
            return JsonElementKind.TooLarge;
        }
        _phase = Phase.Done;
        return JsonElementKind.SyntaxError;
    }

    /// <summary>Consumes whitespace before the array; true when the file holds nothing else.</summary>
    private bool SkipLeadingWhitespace()
    {
        while (true)
        {
            var data = _window.Data;
            var first = data.IndexOfAnyExcept(" \t\r\n"u8);
            if (first >= 0)
            {
                Consume(first);
                return false;
            }
            Consume(data.Length);
            if (!_window.Fill())
            {
                return true;
            }
        }
    }

    /// <summary>Consumes whitespace; the next byte, or null at the end of the file.</summary>
    private byte? NextNonWhitespace()
    {
        while (true)
        {
            var data = _window.Data;
            var at = data.IndexOfAnyExcept(" \t\r\n"u8);
            if (at >= 0)
            {
                Consume(at);
                return data[at];
            }
            Consume(data.Length);
            if (!_window.Fill())
            {
                return null;
            }
        }
    }

    /// <summary>
    /// Offset of the next element in <paramref name="data"/>, which holds what follows the last token read: whitespace, the
    /// separating comma, whitespace.
    /// </summary>
    private static int ElementStart(ReadOnlySpan<byte> data)
    {
        var at = data.IndexOfAnyExcept(" \t\r\n"u8);
        if (at >= 0 && data[at] == (byte)',')
        {
            var next = data[(at + 1)..].IndexOfAnyExcept(" \t\r\n"u8);
            at = next < 0 ? data.Length : at + 1 + next;
        }
        return at < 0 ? data.Length : at;
    }

    /// <summary>
    /// Skips an element too large to hold by scanning its bytes (strings, escapes and nesting only), so memory stays at
    /// one window. The reader's state cannot be carried over the skipped bytes, so afterwards the comma is consumed here
    /// and the reader restarts as if just after the array's '['. False (with the syntax error in
    /// <paramref name="detail"/>) when the array does not go on properly after the element.
    /// </summary>
    private bool TrySkipOversized(int start, out long line, out string? detail)
    {
        line = LineOf(_window.Data, start);
        Consume(start);
        detail = null;
        var depth = 0;
        var inString = false;
        var escaped = false;
        var first = true;
        var scalar = false;
        while (true)
        {
            var data = _window.Data;
            var end = -1;
            for (var i = 0; i < data.Length; i++)
            {
                var b = data[i];
                if (first)
                {
                    first = false;
                    scalar = b is not ((byte)'{' or (byte)'[');
                }
                if (inString)
                {
                    if (escaped)
                    {
                        escaped = false;
                    }
                    else if (b == (byte)'\\')
                    {
                        escaped = true;
                    }
                    else if (b == (byte)'"')
                    {
                        inString = false;
                        if (scalar)
                        {
                            end = i + 1;
                            break;
                        }
                    }
                    continue;
                }
                if (b == (byte)'"')
                {
                    inString = true;
                }
                else if (b is (byte)'{' or (byte)'[')
                {
                    depth++;
                }
                else if (b is (byte)'}' or (byte)']' || (scalar && b is (byte)',' or (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
                {
                    if (scalar)
                    {
                        end = i;
                        break;
                    }
                    if (--depth == 0)
                    {
                        end = i + 1;
                        break;
                    }
                }
            }
            if (end >= 0)
            {
                Consume(end);
                break;
            }
            Consume(data.Length);
            if (!_window.Fill())
            {
                detail = "the file ends inside an element";
                return false;
            }
        }
        // After the element: whitespace, then ']' or a comma and another element. A problem there is reported on the
        // next call, after the oversized element's own reject.
        var after = NextNonWhitespace();
        if (after == (byte)',')
        {
            Consume(1);
            if (NextNonWhitespace() is not { } next || next == (byte)']')
            {
                _pendingError = (_lineAtStart, "expected an element after ','");
            }
        }
        else if (after != (byte)']')
        {
            _pendingError = (_lineAtStart, after is { } b
                ? $"expected ',' or ']' after an element, found '{(char)b}'"
                : "the file ends inside the array");
        }
        var restart = new Utf8JsonReader("["u8, isFinalBlock: false, state: default);
        restart.Read();
        _state = restart.CurrentState;
        // The restarted reader counts lines from zero again.
        _lineBase = _lineAtStart - 1;
        return true;
    }

    private void Advance(ref Utf8JsonReader reader, ReadOnlySpan<byte> data)
    {
        _state = reader.CurrentState;
        var consumed = (int)reader.BytesConsumed;
        _lineAtStart += data[..consumed].Count((byte)'\n');
        _window.Consume(consumed);
    }

    private void Consume(int count)
    {
        if (count > 0)
        {
            _lineAtStart += _window.Data[..count].Count((byte)'\n');
            _window.Consume(count);
        }
    }

    private long LineOf(ReadOnlySpan<byte> data, int offset) => _lineAtStart + data[..offset].Count((byte)'\n');
}
