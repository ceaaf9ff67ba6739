using System.Buffers.Text;
using System.Text;

namespace SynthVlm.Redis;

/// <summary>
/// One command argument without boxing: text (sent as UTF-8), bytes, or a number (sent as its
/// decimal text, which is what Redis expects).
/// </summary>
public readonly struct RedisArg
{
    private readonly string? _text;
    private readonly ReadOnlyMemory<byte> _bytes;
    private readonly long _integer;
    private readonly double _double;
    private readonly Kind _kind;

    private RedisArg(Kind kind, string? text = null, ReadOnlyMemory<byte> bytes = default, long integer = 0, double number = 0)
    {
        _kind = kind;
        _text = text;
        _bytes = bytes;
        _integer = integer;
        _double = number;
    }

    private enum Kind : byte
    {
        Bytes,
        Text,
        Integer,
        Double,
    }

    /// <summary>A text argument.</summary>
    public static implicit operator RedisArg(string value) => new(Kind.Text, text: value ?? "");

    /// <summary>A binary argument.</summary>
    public static implicit operator RedisArg(byte[] value) => new(Kind.Bytes, bytes: value ?? []);

    /// <summary>A binary argument.</summary>
    public static implicit operator RedisArg(ReadOnlyMemory<byte> value) => new(Kind.Bytes, bytes: value);

    /// <summary>An integer argument.</summary>
    public static implicit operator RedisArg(long value) => new(Kind.Integer, integer: value);

    /// <summary>An integer argument.</summary>
    public static implicit operator RedisArg(int value) => new(Kind.Integer, integer: value);

    /// <summary>A floating-point argument.</summary>
    public static implicit operator RedisArg(double value) => new(Kind.Double, number: value);

    /// <summary>A text argument.</summary>
    public static RedisArg FromString(string value) => value;

    /// <summary>A binary argument.</summary>
    public static RedisArg FromMemory(ReadOnlyMemory<byte> value) => value;

    /// <summary>An integer argument.</summary>
    public static RedisArg FromInt64(long value) => value;

    /// <summary>A floating-point argument.</summary>
    public static RedisArg FromDouble(double value) => value;

    /// <summary>The argument as the server will see it (for logs and tests).</summary>
    public override string ToString() => _kind switch
    {
        Kind.Text => _text!,
        Kind.Bytes => Encoding.UTF8.GetString(_bytes.Span),
        Kind.Integer => _integer.ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => _double.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>The number of bytes the payload takes on the wire (without the <c>$len</c> header).</summary>
    internal int PayloadLength(Span<byte> scratch)
    {
        return _kind switch
        {
            Kind.Text => Encoding.UTF8.GetByteCount(_text!),
            Kind.Bytes => _bytes.Length,
            Kind.Integer => Utf8Formatter.TryFormat(_integer, scratch, out var n) ? n : throw new InvalidOperationException("integer format"),
            _ => FormatDouble(_double, scratch),
        };
    }

    /// <summary>Writes the payload; <paramref name="destination"/> has exactly <see cref="PayloadLength"/> bytes.</summary>
    internal void WritePayload(Span<byte> destination)
    {
        switch (_kind)
        {
            case Kind.Text:
                Encoding.UTF8.GetBytes(_text!, destination);
                break;
            case Kind.Bytes:
                _bytes.Span.CopyTo(destination);
                break;
            case Kind.Integer:
                Utf8Formatter.TryFormat(_integer, destination, out _);
                break;
            default:
                FormatDouble(_double, destination);
                break;
        }
    }

    private static int FormatDouble(double value, Span<byte> destination)
    {
        // Redis parses inf/-inf itself; "R" round-trips every finite double.
        if (double.IsPositiveInfinity(value))
        {
            "+inf"u8.CopyTo(destination);
            return 4;
        }
        if (double.IsNegativeInfinity(value))
        {
            "-inf"u8.CopyTo(destination);
            return 4;
        }
        return value.TryFormat(destination, out var n, "R", System.Globalization.CultureInfo.InvariantCulture)
            ? n
            : throw new InvalidOperationException("double format");
    }
}
