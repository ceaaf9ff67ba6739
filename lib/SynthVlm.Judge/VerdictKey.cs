using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace SynthVlm.Judge;

/// <summary>
/// SHA-256 of (model, prompt version, caption): the identity of a verdict. Each part is length
/// prefixed so that no two different triples hash the same bytes.
/// </summary>
internal readonly record struct VerdictKey(ulong A, ulong B, ulong C, ulong D)
{
    public const int HexLength = 64;

    public static VerdictKey Compute(string model, string promptVersion, string caption)
    {
        var size = 12 + Encoding.UTF8.GetByteCount(model) + Encoding.UTF8.GetByteCount(promptVersion) + Encoding.UTF8.GetByteCount(caption);
        var rented = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            var span = rented.AsSpan(0, size);
            var at = Append(span, 0, model);
            at = Append(span, at, promptVersion);
            Append(span, at, caption);
            Span<byte> hash = stackalloc byte[32];
            SHA256.HashData(span, hash);
            return FromBytes(hash);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public static bool TryParseHex(ReadOnlySpan<char> hex, out VerdictKey key)
    {
        Span<byte> bytes = stackalloc byte[32];
        if (hex.Length != HexLength || Convert.FromHexString(hex, bytes, out _, out var written) != OperationStatus.Done || written != 32)
        {
            key = default;
            return false;
        }
        key = FromBytes(bytes);
        return true;
    }

    public string ToHex()
    {
        Span<byte> bytes = stackalloc byte[32];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, A);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], B);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[16..], C);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[24..], D);
        return Convert.ToHexStringLower(bytes);
    }

    public override string ToString() => ToHex();

    private static VerdictKey FromBytes(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadUInt64BigEndian(b),
        BinaryPrimitives.ReadUInt64BigEndian(b[8..]),
        BinaryPrimitives.ReadUInt64BigEndian(b[16..]),
        BinaryPrimitives.ReadUInt64BigEndian(b[24..]));

    private static int Append(Span<byte> span, int at, string part)
    {
        var written = Encoding.UTF8.GetBytes(part, span[(at + 4)..]);
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], written);
        return at + 4 + written;
    }
}
