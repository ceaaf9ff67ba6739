using System.Runtime.CompilerServices;

namespace SynthVlm.Imaging.Codecs;

/// <summary>
/// CRC-32 (ISO-HDLC, reflected polynomial 0xEDB88320) as PNG chunks need it, slice-by-8:
/// System.IO.Hashing is not among the packages this project can restore.
/// </summary>
internal static class Crc32
{
    internal const uint Initial = 0xFFFFFFFFu;

    private static readonly uint[] Table = BuildTable();

    internal static uint Final(uint crc) => ~crc;

    /// <summary>The CRC of <paramref name="data"/> (initial value and final xor included).</summary>
    internal static uint Compute(ReadOnlySpan<byte> data) => Final(Update(Initial, data));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        var t = Table;
        var i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            var lo = crc ^ (uint)(data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24);
            crc = t[(7 * 256) + (lo & 0xFF)] ^ t[(6 * 256) + ((lo >> 8) & 0xFF)]
                ^ t[(5 * 256) + ((lo >> 16) & 0xFF)] ^ t[(4 * 256) + (lo >> 24)]
                ^ t[(3 * 256) + data[i + 4]] ^ t[(2 * 256) + data[i + 5]]
                ^ t[256 + data[i + 6]] ^ t[data[i + 7]];
        }
        for (; i < data.Length; i++)
        {
            crc = t[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
        }
        return crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[8 * 256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }
            table[n] = c;
        }
        for (var n = 0; n < 256; n++)
        {
            for (var s = 1; s < 8; s++)
            {
                var prev = table[((s - 1) * 256) + n];
                table[(s * 256) + n] = table[prev & 0xFF] ^ (prev >> 8);
            }
        }
        return table;
    }
}
