using System.Buffers.Binary;
using System.IO.Hashing;

namespace SynthVlm.Runs;

/// <summary>
/// The frame of one score record in a score log segment (<c>*.scores</c>), little-endian:
/// <c>magic u32 | payload length u32 | caption index i64 | variant i32 | CRC-32 u32 | payload</c>,
/// the CRC covering index, variant and payload. A segment is only ever appended to by one
/// process; a crash can leave a torn last frame, which readers detect (bad magic, short read or
/// CRC mismatch) and stop at: nothing after it was acknowledged by that writer.
/// </summary>
public static class ScoreLogFormat
{
    /// <summary>File extension of a score log segment.</summary>
    public const string Extension = ".scores";

    /// <summary>"SVSR" read as a little-endian u32.</summary>
    public const uint Magic = 0x52535653;

    /// <summary>Bytes before the payload.</summary>
    public const int HeaderSize = 24;

    /// <summary>The largest payload a frame may carry (a ScoredImage is a few hundred bytes).</summary>
    public const int MaxPayload = 16 * 1024 * 1024;

    /// <summary>Writes the header of a frame for <paramref name="payload"/> into <paramref name="header"/>.</summary>
    public static void WriteHeader(Span<byte> header, long captionIndex, int variant, ReadOnlySpan<byte> payload)
    {
        if (header.Length < HeaderSize)
        {
            throw new ArgumentException($"a frame header needs {HeaderSize} bytes.", nameof(header));
        }
        if (payload.Length > MaxPayload)
        {
            throw new ArgumentException($"a score record of {payload.Length} bytes is larger than {MaxPayload}.", nameof(payload));
        }
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], (uint)payload.Length);
        BinaryPrimitives.WriteInt64LittleEndian(header[8..], captionIndex);
        BinaryPrimitives.WriteInt32LittleEndian(header[16..], variant);
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], Checksum(header[8..20], payload));
    }

    /// <summary>
    /// Reads the frame at the start of <paramref name="data"/>: its key and payload, and how many
    /// bytes it occupies; false when the bytes there are not a whole, intact frame.
    /// </summary>
    public static bool TryReadFrame(ReadOnlySpan<byte> data, out long captionIndex, out int variant, out int payloadLength)
    {
        captionIndex = 0;
        variant = 0;
        payloadLength = 0;
        if (data.Length < HeaderSize || BinaryPrimitives.ReadUInt32LittleEndian(data) != Magic)
        {
            return false;
        }
        var length = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
        if (length > MaxPayload || data.Length - HeaderSize < length)
        {
            return false;
        }
        var payload = data.Slice(HeaderSize, (int)length);
        if (BinaryPrimitives.ReadUInt32LittleEndian(data[20..]) != Checksum(data[8..20], payload))
        {
            return false;
        }
        captionIndex = BinaryPrimitives.ReadInt64LittleEndian(data[8..]);
        variant = BinaryPrimitives.ReadInt32LittleEndian(data[16..]);
        payloadLength = (int)length;
        return true;
    }

    private static uint Checksum(ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload)
    {
        var crc = new Crc32();
        crc.Append(key);
        crc.Append(payload);
        return crc.GetCurrentHashAsUInt32();
    }
}
