using System.Buffers.Binary;

namespace SynthVlm.LanguageModels;

/// <summary>
/// SentencePiece's precompiled_charsmap: a darts-clone double-array trie over UTF-8 bytes whose
/// values are offsets of NUL-terminated replacement strings (normalizer.cc, DecodePrecompiledCharsMap
/// and Normalizer::NormalizePrefix). The trie is the compiled form of the model's rule table
/// (nmt_nfkc, nfkc_cf, or a user TSV), so following it reproduces those rules exactly.
/// </summary>
internal sealed class CharsMapNormalizer
{
    // sentencepiece asks darts for at most 32 prefix matches and keeps the longest of them.
    private const int MaxTrieResults = 32;

    private readonly uint[] _units;
    private readonly byte[] _normalized;

    private CharsMapNormalizer(uint[] units, byte[] normalized)
    {
        _units = units;
        _normalized = normalized;
    }

    /// <summary>Splits the blob as sentencepiece does: little-endian uint32 trie size, trie, strings.</summary>
    public static CharsMapNormalizer Parse(ReadOnlySpan<byte> blob, string source)
    {
        if (blob.Length <= sizeof(uint))
        {
            throw new LanguageModelFormatException(source, null, $"precompiled_charsmap has {blob.Length} bytes; expected a 4-byte trie size followed by the trie.");
        }
        var trieSize = BinaryPrimitives.ReadUInt32LittleEndian(blob);
        if (trieSize >= (uint)blob.Length - sizeof(uint) + 1 || trieSize % sizeof(uint) != 0 || trieSize == 0)
        {
            throw new LanguageModelFormatException(source, null, $"precompiled_charsmap declares a trie of {trieSize} bytes but the blob has {blob.Length - sizeof(uint)} bytes after the size (trie must be a non-empty multiple of 4 and smaller).");
        }
        var trie = blob.Slice(sizeof(uint), (int)trieSize);
        var units = new uint[trie.Length / sizeof(uint)];
        for (var i = 0; i < units.Length; i++)
        {
            units[i] = BinaryPrimitives.ReadUInt32LittleEndian(trie[(i * sizeof(uint))..]);
        }
        return new CharsMapNormalizer(units, blob[(sizeof(uint) + (int)trieSize)..].ToArray());
    }

    /// <summary>
    /// Longest rule matching a prefix of <paramref name="input"/>: the replacement bytes and the
    /// number of input bytes consumed, or false when no rule matches.
    /// </summary>
    public bool TryMatch(ReadOnlySpan<byte> input, out ReadOnlySpan<byte> replacement, out int consumed)
    {
        replacement = default;
        consumed = 0;
        var units = _units;
        // darts-clone unit layout: bit 8 has_leaf, bit 31 is_leaf, low byte label,
        // offset = (unit >> 10) << ((unit & 512) >> 6), value = unit & 0x7FFFFFFF.
        uint nodePos = 0;
        var unit = units[0];
        nodePos ^= Offset(unit);
        var found = 0;
        var bestLength = 0;
        var bestValue = 0u;
        for (var i = 0; i < input.Length; i++)
        {
            var b = input[i];
            nodePos ^= b;
            if (nodePos >= (uint)units.Length)
            {
                break;
            }
            unit = units[nodePos];
            if ((unit & (0x80000000u | 0xFFu)) != b)
            {
                break;
            }
            nodePos ^= Offset(unit);
            if (((unit >> 8) & 1) == 1)
            {
                if (nodePos >= (uint)units.Length)
                {
                    break;
                }
                if (found < MaxTrieResults)
                {
                    bestLength = i + 1;
                    bestValue = units[nodePos] & 0x7FFFFFFFu;
                }
                found++;
            }
        }
        if (bestLength == 0)
        {
            return false;
        }
        if (bestValue >= (uint)_normalized.Length)
        {
            throw new LanguageModelFormatException($"precompiled_charsmap rule points at offset {bestValue}, beyond its {_normalized.Length}-byte string table.");
        }
        var tail = _normalized.AsSpan((int)bestValue);
        var end = tail.IndexOf((byte)0);
        replacement = end < 0 ? tail : tail[..end];
        consumed = bestLength;
        return true;
    }

    private static uint Offset(uint unit) => (unit >> 10) << (int)((unit & (1u << 9)) >> 6);
}
