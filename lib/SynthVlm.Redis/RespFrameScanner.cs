using System.Buffers;
using System.Buffers.Text;

namespace SynthVlm.Redis;

/// <summary>
/// Finds where the next complete RESP value ends without materialising it, resuming where the
/// previous call ran out of bytes. Without it a large reply (XREADGROUP COUNT 128 of 4 KiB
/// entries) arriving in many socket reads would be re-parsed from its start on every read,
/// quadratic in its size. The full parse runs once, on the complete frame.
/// </summary>
internal sealed class RespFrameScanner
{
    private long _scanned;
    private long _remaining = 1;

    /// <summary>Scans <paramref name="buffer"/> (which starts at the frame's first byte) for the frame's end.</summary>
    /// <returns>True with the frame's length when complete; false to wait for more bytes (progress is kept).</returns>
    public bool TryFindEnd(ReadOnlySequence<byte> buffer, out long frameLength)
    {
        var reader = new SequenceReader<byte>(buffer);
        reader.Advance(_scanned);
        while (_remaining > 0)
        {
            var start = reader.Consumed;
            if (!reader.TryRead(out var marker))
            {
                return NeedMore(start, out frameLength);
            }
            switch (marker)
            {
                case (byte)'+' or (byte)'-' or (byte)':' or (byte)',' or (byte)'#' or (byte)'_' or (byte)'(':
                    if (!SkipLine(ref reader))
                    {
                        return NeedMore(start, out frameLength);
                    }
                    _remaining--;
                    break;
                case (byte)'$' or (byte)'!' or (byte)'=':
                    {
                        if (!TryReadNumber(ref reader, out var length))
                        {
                            return NeedMore(start, out frameLength);
                        }
                        if (length >= 0)
                        {
                            if (reader.Remaining < length + 2)
                            {
                                return NeedMore(start, out frameLength);
                            }
                            reader.Advance(length + 2);
                        }
                        _remaining--;
                        break;
                    }
                case (byte)'*' or (byte)'~' or (byte)'>' or (byte)'%' or (byte)'|':
                    {
                        if (!TryReadNumber(ref reader, out var count))
                        {
                            return NeedMore(start, out frameLength);
                        }
                        var perEntry = marker is (byte)'%' or (byte)'|' ? 2 : 1;
                        if (count < -1 || count > RespParser.MaxAggregateLength)
                        {
                            throw RedisErrors.Malformed($"aggregate length {count}");
                        }
                        // An attribute is followed by the value it annotates, so it does not consume a slot.
                        _remaining += (Math.Max(count, 0) * perEntry) - (marker == (byte)'|' ? 0 : 1);
                        break;
                    }
                default:
                    throw RedisErrors.Malformed($"unknown type marker 0x{marker:X2}");
            }
            _scanned = reader.Consumed;
        }
        frameLength = _scanned;
        _scanned = 0;
        _remaining = 1;
        return true;
    }

    private bool NeedMore(long resumeAt, out long frameLength)
    {
        _scanned = resumeAt;
        frameLength = 0;
        return false;
    }

    private static bool SkipLine(ref SequenceReader<byte> reader)
    {
        if (!reader.TryAdvanceTo((byte)'\n'))
        {
            if (reader.Remaining > RespParser.MaxLineLength)
            {
                throw RedisErrors.Malformed($"line longer than {RespParser.MaxLineLength} bytes without CRLF");
            }
            return false;
        }
        return true;
    }

    private static bool TryReadNumber(ref SequenceReader<byte> reader, out long value)
    {
        value = 0;
        if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
        {
            if (reader.Remaining > RespParser.MaxLineLength)
            {
                throw RedisErrors.Malformed("header without CRLF");
            }
            return false;
        }
        Span<byte> scratch = stackalloc byte[24];
        if (line.Length is < 2 or > 22)
        {
            throw RedisErrors.Malformed("length header");
        }
        line.CopyTo(scratch);
        var digits = scratch[..((int)line.Length - 1)];
        if (scratch[(int)line.Length - 1] != (byte)'\r' || !Utf8Parser.TryParse(digits, out value, out var used) || used != digits.Length)
        {
            throw RedisErrors.Malformed("length header");
        }
        return true;
    }
}
