using System.Buffers.Binary;

namespace SynthVlm.Testing;

/// <summary>
/// An independent reader of score log segments (<c>*.scores</c>) for tests: the frame layout
/// written out by hand and a bitwise CRC-32 (IEEE, reflected, poly 0xEDB88320), so a test checks
/// the writer against something other than the library's own reader.
/// </summary>
public static class ScoreLogFiles
{
    /// <summary>Every intact frame of the segments under <paramref name="folder"/> (recursively), in file then offset order.</summary>
    public static List<(long CaptionIndex, int Variant, byte[] Payload)> ReadAll(string folder)
    {
        var frames = new List<(long, int, byte[])>();
        if (!Directory.Exists(folder))
        {
            return frames;
        }
        var files = Directory.GetFiles(folder, "*.scores", SearchOption.AllDirectories);
        Array.Sort(files, StringComparer.Ordinal);
        foreach (var file in files)
        {
            frames.AddRange(ReadSegment(File.ReadAllBytes(file)));
        }
        return frames;
    }

    /// <summary>The intact frames of one segment, stopping at the first torn or corrupt one.</summary>
    public static List<(long CaptionIndex, int Variant, byte[] Payload)> ReadSegment(byte[] bytes)
    {
        var frames = new List<(long, int, byte[])>();
        var at = 0;
        while (bytes.Length - at >= 24)
        {
            var magic = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at));
            var length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at + 4));
            if (magic != 0x52535653 || length < 0 || bytes.Length - at - 24 < length)
            {
                break;
            }
            var crc = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 20));
            var covered = bytes.AsSpan(at + 8, 12).ToArray().Concat(bytes.AsSpan(at + 24, length).ToArray()).ToArray();
            if (Crc32(covered) != crc)
            {
                break;
            }
            frames.Add((BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(at + 8)), BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at + 16)), bytes.AsSpan(at + 24, length).ToArray()));
            at += 24 + length;
        }
        return frames;
    }

    /// <summary>CRC-32 as zlib computes it, one bit at a time.</summary>
    public static uint Crc32(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
        }
        return ~crc;
    }
}
