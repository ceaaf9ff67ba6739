using System.Buffers.Binary;
using System.Text;

namespace SynthVlm.LanguageModels;

/// <summary>KenLM's data structures (<c>lm/model_type.hh</c>, numbered as stored in the file).</summary>
public enum KenLmDataStructure
{
    /// <summary>Probing hash tables: <c>build_binary</c>'s default (<c>build_binary model.arpa model.bin</c>).</summary>
    Probing = 0,

    /// <summary>Probing hash tables with rest costs (<c>build_binary -r ...</c>).</summary>
    RestProbing = 1,

    /// <summary>Bit-packed trie (<c>build_binary trie</c>).</summary>
    Trie = 2,

    /// <summary>Trie with quantized weights (<c>build_binary -q N trie</c>).</summary>
    QuantizedTrie = 3,

    /// <summary>Trie with array-compressed pointers (<c>build_binary -a N trie</c>).</summary>
    ArrayTrie = 4,

    /// <summary>Trie with quantization and array-compressed pointers (<c>-q N -a N trie</c>).</summary>
    QuantizedArrayTrie = 5,
}

/// <summary>
/// The header of a KenLM binary model (<c>lm/binary_format.cc</c>, format version 5): a sanity
/// block (magic text, test floats and integers that pin the byte order and type sizes), then the
/// fixed parameters (order, probing multiplier, data structure, whether the vocabulary strings
/// are appended, search version) and the n-gram counts, padded to 8 bytes.
/// </summary>
public sealed record KenLmBinaryHeader
{
    /// <summary>The text every KenLM binary starts with, whatever its version.</summary>
    public const string MagicPrefix = "mmap lm http://kheafield.com/code";

    private const string MagicBeforeVersion = "mmap lm http://kheafield.com/code format version";
    private const string MagicIncomplete = "mmap lm http://kheafield.com/code incomplete\n";
    private const int SupportedVersion = 5;

    // ALIGN8(sizeof "…version 5\n\0" with its implicit terminator = 53) = 56, then 3 floats,
    // 3 uint32 and one uint64.
    private const int MagicBytes = 56;
    private const int SanitySize = MagicBytes + 12 + 12 + 8;
    private const int FixedSize = 20;

    /// <summary>The model order.</summary>
    public required int Order { get; init; }

    /// <summary>Hash-table space multiplier (<c>build_binary -p</c>, default 1.5).</summary>
    public required float ProbingMultiplier { get; init; }

    /// <summary>The data structure the file holds.</summary>
    public required KenLmDataStructure DataStructure { get; init; }

    /// <summary>Whether the vocabulary strings follow the data (absent with <c>build_binary -v</c>).</summary>
    public required bool HasVocabulary { get; init; }

    /// <summary>Version of the data structure's layout (probing 0, trie 1).</summary>
    public required uint SearchVersion { get; init; }

    /// <summary>n-gram counts per order as stored (index 0 = unigrams).</summary>
    public required IReadOnlyList<long> Counts { get; init; }

    /// <summary>Bytes before the vocabulary and search data.</summary>
    public required long Size { get; init; }

    /// <summary>True when <paramref name="start"/> begins with KenLM's binary magic text.</summary>
    public static bool LooksLikeKenLmBinary(ReadOnlySpan<byte> start) =>
        start.StartsWith(Encoding.ASCII.GetBytes(MagicPrefix));

    /// <summary>
    /// Parses the header at the start of <paramref name="data"/> (at least the first
    /// <c>SanitySize + 20 + 8 × order</c> bytes); <paramref name="source"/> names the file in errors.
    /// </summary>
    /// <exception cref="LanguageModelFormatException">Not a KenLM binary, an unfinished build, another
    /// format version, a build from a foreign architecture (byte order, 32-bit layout) or a truncated header.</exception>
    public static KenLmBinaryHeader Parse(ReadOnlySpan<byte> data, string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var magic = Encoding.ASCII.GetBytes(MagicBeforeVersion);
        if (data.StartsWith(Encoding.ASCII.GetBytes(MagicIncomplete)))
        {
            throw Error(source, "this KenLM binary did not finish building (build_binary failed or was interrupted); rebuild it from the ARPA.");
        }
        if (!data.StartsWith(magic))
        {
            throw Error(source, $"expected KenLM's binary magic '{MagicPrefix} format version {SupportedVersion}' at byte 0; this is not a KenLM binary model.");
        }
        var version = ParseVersion(data[magic.Length..]);
        if (version != SupportedVersion)
        {
            throw Error(source, $"KenLM binary format version {version?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(unreadable)"} is not supported; expected version {SupportedVersion} (KenLM since 2011). Rebuild it with a current build_binary from the ARPA.");
        }
        if (data.Length < SanitySize)
        {
            throw Error(source, $"the file ends at byte {data.Length}, inside the {SanitySize}-byte sanity header; it is truncated.");
        }
        CheckSanity(data, source);
        if (data.Length < SanitySize + FixedSize)
        {
            throw Error(source, $"the file ends at byte {data.Length}, inside the fixed parameters; it is truncated.");
        }
        var fixedPart = data.Slice(SanitySize, FixedSize);
        int order = fixedPart[0];
        var multiplier = BinaryPrimitives.ReadSingleLittleEndian(fixedPart[4..]);
        var type = BinaryPrimitives.ReadUInt32LittleEndian(fixedPart[8..]);
        var hasVocabulary = fixedPart[12] != 0;
        var searchVersion = BinaryPrimitives.ReadUInt32LittleEndian(fixedPart[16..]);
        if (!(multiplier >= 1.0f))
        {
            throw Error(source, $"the header's probing multiplier is {multiplier}; expected at least 1.0.");
        }
        if (order < 1)
        {
            throw Error(source, "the header declares order 0.");
        }
        if (type > (uint)KenLmDataStructure.QuantizedArrayTrie)
        {
            throw Error(source, $"the header declares data structure {type}; KenLM knows 0 to 5.");
        }
        var countsStart = SanitySize + FixedSize;
        if (data.Length < countsStart + (8 * order))
        {
            throw Error(source, $"the file ends at byte {data.Length}, inside the n-gram counts of the {order}-gram header; it is truncated.");
        }
        var counts = new long[order];
        for (var i = 0; i < order; i++)
        {
            var count = BinaryPrimitives.ReadUInt64LittleEndian(data[(countsStart + (8 * i))..]);
            if (count > int.MaxValue * 16L)
            {
                throw Error(source, $"the header declares {count} {i + 1}-grams, beyond what this reader supports.");
            }
            counts[i] = (long)count;
        }
        return new KenLmBinaryHeader
        {
            Order = order,
            ProbingMultiplier = multiplier,
            DataStructure = (KenLmDataStructure)type,
            HasVocabulary = hasVocabulary,
            SearchVersion = searchVersion,
            Counts = counts,
            Size = Align8(countsStart + (8L * order)),
        };
    }

    /// <summary>Bytes to read so that <see cref="Parse"/> sees the whole header of any order KenLM supports.</summary>
    public static int MaxSize => SanitySize + FixedSize + (8 * 255) + 8;

    internal static long Align8(long value) => ((value + 7) / 8) * 8;

    private static int? ParseVersion(ReadOnlySpan<byte> rest)
    {
        var i = 0;
        while (i < rest.Length && rest[i] == (byte)' ')
        {
            i++;
        }
        var start = i;
        long value = 0;
        while (i < rest.Length && rest[i] is >= (byte)'0' and <= (byte)'9' && i - start < 9)
        {
            value = (value * 10) + (rest[i] - '0');
            i++;
        }
        return i == start ? null : (int)value;
    }

    // The sanity block: magic then zero-padding to 56 bytes, 0.0f, 1.0f, -0.5f, uint32 1, uint32 max,
    // uint32 0 padding, uint64 1, all in the building machine's byte order and type sizes.
    private static void CheckSanity(ReadOnlySpan<byte> data, string source)
    {
        Span<byte> reference = stackalloc byte[SanitySize];
        reference.Clear();
        Encoding.ASCII.GetBytes(MagicBeforeVersion + " 5\n", reference);
        BinaryPrimitives.WriteSingleLittleEndian(reference[(MagicBytes + 4)..], 1.0f);
        BinaryPrimitives.WriteSingleLittleEndian(reference[(MagicBytes + 8)..], -0.5f);
        BinaryPrimitives.WriteUInt32LittleEndian(reference[(MagicBytes + 12)..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(reference[(MagicBytes + 16)..], uint.MaxValue);
        BinaryPrimitives.WriteUInt64LittleEndian(reference[(MagicBytes + 24)..], 1);
        var found = data[..SanitySize];
        if (found.SequenceEqual(reference))
        {
            if (!BitConverter.IsLittleEndian)
            {
                throw Error(source, "this KenLM binary was built on a little-endian machine and this machine is big-endian; rebuild it here from the ARPA.");
            }
            return;
        }
        var one = found[(MagicBytes + 4)..(MagicBytes + 8)];
        if (BinaryPrimitives.ReadSingleBigEndian(one) == 1.0f && BinaryPrimitives.ReadUInt32BigEndian(found[(MagicBytes + 12)..]) == 1)
        {
            throw Error(source, "the sanity values are big-endian: this KenLM binary was built on a big-endian machine, and the format is not portable across byte orders. Rebuild it with build_binary on this architecture from the ARPA.");
        }
        // KenLM's OldSanity: 53-byte magic, floats at 53, then uint32s and an unaligned uint64.
        if (BinaryPrimitives.ReadSingleLittleEndian(found[57..]) == 1.0f && BinaryPrimitives.ReadUInt32LittleEndian(found[65..]) == 1)
        {
            throw Error(source, "this is KenLM's old 32-bit binary layout, which KenLM itself no longer reads; rebuild it from the ARPA.");
        }
        throw Error(source, "the sanity values after the magic text (0.0, 1.0, -0.5, 1, 2^32-1, 1) do not match: the file was built by a different compiler or architecture, or is damaged. Rebuild it with build_binary from the ARPA.");
    }

    private static LanguageModelFormatException Error(string source, string problem) => new(source, null, problem);
}
