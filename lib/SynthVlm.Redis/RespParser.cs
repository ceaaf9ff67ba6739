using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace SynthVlm.Redis;

/// <summary>
/// RESP2/RESP3 reply parser. <c>TryRead</c> returning false means "need more bytes" (nothing is
/// consumed); malformed input throws <see cref="RedisProtocolException"/> (garnet's convention).
/// </summary>
public static class RespParser
{
    /// <summary>Longest header or simple line accepted; longer without CRLF is malformed, not "need more".</summary>
    public const int MaxLineLength = 64 * 1024;

    /// <summary>Largest bulk payload accepted (Redis's default proto-max-bulk-len).</summary>
    public const long MaxBulkLength = 512L * 1024 * 1024;

    /// <summary>Deepest nesting accepted, so a hostile peer cannot overflow the stack.</summary>
    public const int MaxDepth = 64;

    /// <summary>Largest aggregate element count accepted.</summary>
    public const int MaxAggregateLength = 64 * 1024 * 1024;

    /// <summary>Reads one complete value from the start of <paramref name="buffer"/>.</summary>
    /// <param name="buffer">Received bytes.</param>
    /// <param name="result">The value, when one is complete.</param>
    /// <param name="consumed">Where the value ends, when one is complete.</param>
    /// <returns>False when the buffer holds only part of a value.</returns>
    public static bool TryRead(ReadOnlySequence<byte> buffer, out RedisResult result, out SequencePosition consumed)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (TryRead(ref reader, out result))
        {
            consumed = reader.Position;
            return true;
        }
        consumed = buffer.Start;
        return false;
    }

    /// <summary>Reads one complete value from a contiguous buffer.</summary>
    /// <returns>False when the buffer holds only part of a value.</returns>
    public static bool TryRead(ReadOnlySpan<byte> buffer, out RedisResult result, out int consumed)
    {
        // Test and tooling convenience; the connection reads sequences.
        var sequence = new ReadOnlySequence<byte>(buffer.ToArray());
        if (TryRead(sequence, out result, out var end))
        {
            consumed = (int)sequence.Slice(0, end).Length;
            return true;
        }
        consumed = 0;
        return false;
    }

    /// <summary>Reads one complete value, advancing <paramref name="reader"/> only when it succeeds.</summary>
    /// <returns>False when the reader holds only part of a value.</returns>
    public static bool TryRead(ref SequenceReader<byte> reader, out RedisResult result)
    {
        var copy = reader;
        if (TryReadValue(ref copy, out result, 0))
        {
            reader = copy;
            return true;
        }
        return false;
    }

    private static bool TryReadValue(ref SequenceReader<byte> reader, out RedisResult result, int depth)
    {
        result = RedisResult.Null;
        if (depth > MaxDepth)
        {
            throw RedisErrors.Malformed($"nesting deeper than {MaxDepth}");
        }
        if (!reader.TryRead(out var marker))
        {
            return false;
        }
        switch (marker)
        {
            case (byte)'+':
                return TryReadLineValue(ref reader, static b => RedisResult.SimpleString(b), out result);
            case (byte)'-':
                return TryReadLineValue(ref reader, static b => RedisResult.Error(b), out result);
            case (byte)'(':
                return TryReadBigNumber(ref reader, out result);
            case (byte)':':
                if (!TryReadLine(ref reader, out var intLine))
                {
                    return false;
                }
                result = RedisResult.Integer(ParseInteger(intLine, "integer"));
                return true;
            case (byte)',':
                if (!TryReadLine(ref reader, out var doubleLine))
                {
                    return false;
                }
                result = RedisResult.Double(ParseDouble(doubleLine));
                return true;
            case (byte)'#':
                if (!TryReadLine(ref reader, out var boolLine))
                {
                    return false;
                }
                result = boolLine.Length == 1 && boolLine[0] == (byte)'t' ? RedisResult.Boolean(true)
                    : boolLine.Length == 1 && boolLine[0] == (byte)'f' ? RedisResult.Boolean(false)
                    : throw RedisErrors.Malformed($"boolean '{Printable(boolLine)}' (expected #t or #f)");
                return true;
            case (byte)'_':
                if (!TryReadLine(ref reader, out var nullLine))
                {
                    return false;
                }
                if (nullLine.Length != 0)
                {
                    throw RedisErrors.Malformed($"null with a payload '{Printable(nullLine)}'");
                }
                result = RedisResult.Null;
                return true;
            case (byte)'$':
            case (byte)'!':
            case (byte)'=':
                return TryReadBlob(ref reader, marker, out result);
            case (byte)'*':
            case (byte)'~':
            case (byte)'>':
                return TryReadAggregate(ref reader, marker, 1, depth, out result);
            case (byte)'%':
                return TryReadAggregate(ref reader, marker, 2, depth, out result);
            case (byte)'|':
                // Attributes annotate the value that follows; nothing here uses them.
                if (!TryReadAggregate(ref reader, marker, 2, depth, out _))
                {
                    return false;
                }
                return TryReadValue(ref reader, out result, depth + 1);
            default:
                throw RedisErrors.Malformed($"unknown type marker 0x{marker:X2} ('{Printable([marker])}')");
        }
    }

    private static bool TryReadLineValue(ref SequenceReader<byte> reader, Func<ReadOnlyMemory<byte>, RedisResult> make, out RedisResult result)
    {
        result = RedisResult.Null;
        if (!TryReadLine(ref reader, out var line))
        {
            return false;
        }
        result = make(line.ToArray());
        return true;
    }

    private static bool TryReadBigNumber(ref SequenceReader<byte> reader, out RedisResult result)
    {
        result = RedisResult.Null;
        if (!TryReadLine(ref reader, out var line))
        {
            return false;
        }
        var digits = line.Length > 0 && (line[0] == (byte)'-' || line[0] == (byte)'+') ? line[1..] : line;
        if (digits.Length == 0 || digits.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0)
        {
            throw RedisErrors.Malformed($"big number '{Printable(line)}'");
        }
        result = RedisResult.BigNumber(line.ToArray());
        return true;
    }

    private static bool TryReadBlob(ref SequenceReader<byte> reader, byte marker, out RedisResult result)
    {
        result = RedisResult.Null;
        if (!TryReadLine(ref reader, out var header))
        {
            return false;
        }
        var length = ParseInteger(header, "length");
        if (length == -1 && marker == (byte)'$')
        {
            result = RedisResult.Null;
            return true;
        }
        if (length < 0 || length > MaxBulkLength)
        {
            throw RedisErrors.Malformed($"blob length {length}");
        }
        if (reader.Remaining < length + 2)
        {
            return false;
        }
        var payload = new byte[length];
        reader.TryCopyTo(payload);
        reader.Advance(length);
        if (!reader.IsNext("\r\n"u8, advancePast: true))
        {
            throw RedisErrors.Malformed($"blob of length {length} not followed by CRLF");
        }
        switch (marker)
        {
            case (byte)'$':
                result = RedisResult.Bulk(payload);
                break;
            case (byte)'!':
                result = RedisResult.Error(payload);
                break;
            default:
                if (length < 4 || payload[3] != (byte)':')
                {
                    throw RedisErrors.Malformed("verbatim string without a 'fmt:' prefix");
                }
                result = RedisResult.Verbatim(Encoding.ASCII.GetString(payload, 0, 3), payload.AsMemory(4));
                break;
        }
        return true;
    }

    private static bool TryReadAggregate(ref SequenceReader<byte> reader, byte marker, int perEntry, int depth, out RedisResult result)
    {
        result = RedisResult.Null;
        if (!TryReadLine(ref reader, out var header))
        {
            return false;
        }
        var count = ParseInteger(header, "aggregate length");
        if (count == -1 && marker == (byte)'*')
        {
            return true;
        }
        if (count < 0 || count > MaxAggregateLength / perEntry)
        {
            throw RedisErrors.Malformed($"aggregate length {count}");
        }
        var n = (int)count * perEntry;
        // A hostile count must not allocate before the bytes exist: every element needs at least 3 bytes.
        if (reader.Remaining < (long)n * 3)
        {
            return false;
        }
        var items = new RedisResult[n];
        for (var i = 0; i < n; i++)
        {
            if (!TryReadValue(ref reader, out items[i], depth + 1))
            {
                return false;
            }
        }
        var type = marker switch
        {
            (byte)'*' => RedisResultType.Array,
            (byte)'~' => RedisResultType.Set,
            (byte)'>' => RedisResultType.Push,
            _ => RedisResultType.Map,
        };
        result = RedisResult.Aggregate(type, items);
        return true;
    }

    private static bool TryReadLine(ref SequenceReader<byte> reader, out ReadOnlySpan<byte> line)
    {
        line = default;
        var unread = reader.UnreadSpan;
        var cr = unread.IndexOf((byte)'\r');
        if (cr >= 0 && cr + 1 < unread.Length)
        {
            if (unread[cr + 1] != (byte)'\n')
            {
                throw RedisErrors.Malformed("CR not followed by LF");
            }
            line = unread[..cr];
            reader.Advance(cr + 2);
            return CheckLine(line);
        }
        // The line straddles segments (or the CRLF is split): take the slow path.
        if (!reader.TryReadTo(out ReadOnlySequence<byte> sequence, (byte)'\r', advancePastDelimiter: true))
        {
            if (reader.Remaining > MaxLineLength)
            {
                throw RedisErrors.Malformed($"line longer than {MaxLineLength} bytes without CRLF");
            }
            return false;
        }
        if (!reader.TryPeek(out var lf))
        {
            return false;
        }
        if (lf != (byte)'\n')
        {
            throw RedisErrors.Malformed("CR not followed by LF");
        }
        reader.Advance(1);
        line = sequence.IsSingleSegment ? sequence.FirstSpan : sequence.ToArray();
        return CheckLine(line);
    }

    private static bool CheckLine(ReadOnlySpan<byte> line)
    {
        if (line.IndexOf((byte)'\n') >= 0)
        {
            throw RedisErrors.Malformed("LF inside a line");
        }
        return true;
    }

    private static long ParseInteger(ReadOnlySpan<byte> line, string what)
    {
        if (line.Length == 0 || line[0] == (byte)'+' || !Utf8Parser.TryParse(line, out long value, out var used) || used != line.Length)
        {
            throw RedisErrors.Malformed($"{what} '{Printable(line)}' is not a 64-bit integer");
        }
        return value;
    }

    private static double ParseDouble(ReadOnlySpan<byte> line)
    {
        if (line.SequenceEqual("inf"u8) || line.SequenceEqual("+inf"u8))
        {
            return double.PositiveInfinity;
        }
        if (line.SequenceEqual("-inf"u8))
        {
            return double.NegativeInfinity;
        }
        if (line.SequenceEqual("nan"u8) || line.SequenceEqual("-nan"u8))
        {
            return double.NaN;
        }
        if (line.Length == 0 || !double.TryParse(line, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
            || !double.IsFinite(d))
        {
            throw RedisErrors.Malformed($"double '{Printable(line)}'");
        }
        return d;
    }

    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var text = Encoding.ASCII.GetString(bytes[..Math.Min(bytes.Length, 40)]);
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            sb.Append(c is >= ' ' and <= '~' ? c : '?');
        }
        return sb.ToString();
    }
}
