using System.Globalization;
using System.Text;

namespace SynthVlm.Redis;

/// <summary>The RESP2/RESP3 type of a reply.</summary>
public enum RedisResultType
{
    /// <summary><c>+</c> simple string.</summary>
    SimpleString,

    /// <summary><c>-</c> error or <c>!</c> bulk error.</summary>
    Error,

    /// <summary><c>:</c> 64-bit integer.</summary>
    Integer,

    /// <summary><c>$</c> bulk string.</summary>
    BulkString,

    /// <summary><c>*</c> array.</summary>
    Array,

    /// <summary><c>_</c> null, or RESP2's null bulk string / null array.</summary>
    Null,

    /// <summary><c>%</c> map.</summary>
    Map,

    /// <summary><c>~</c> set.</summary>
    Set,

    /// <summary><c>,</c> double.</summary>
    Double,

    /// <summary><c>#</c> boolean.</summary>
    Boolean,

    /// <summary><c>(</c> big number (kept as its decimal text).</summary>
    BigNumber,

    /// <summary><c>=</c> verbatim string (format plus text).</summary>
    VerbatimString,

    /// <summary><c>&gt;</c> push frame (out-of-band; never a command's reply).</summary>
    Push,
}

/// <summary>One parsed RESP value with typed accessors that fail clearly on the wrong type.</summary>
public sealed class RedisResult
{
    private static readonly RedisResult[] NoItems = [];

    private readonly ReadOnlyMemory<byte> _bytes;
    private readonly RedisResult[]? _items;
    private readonly long _integer;
    private readonly double _double;

    private RedisResult(RedisResultType type, ReadOnlyMemory<byte> bytes = default, RedisResult[]? items = null, long integer = 0, double number = 0)
    {
        Type = type;
        _bytes = bytes;
        _items = items;
        _integer = integer;
        _double = number;
    }

    /// <summary>The shared null value.</summary>
    public static RedisResult Null { get; } = new(RedisResultType.Null);

    /// <summary>The reply's type.</summary>
    public RedisResultType Type { get; }

    /// <summary>True for RESP3 null and RESP2 null bulk string / null array.</summary>
    public bool IsNull => Type == RedisResultType.Null;

    /// <summary>True for an error reply.</summary>
    public bool IsError => Type == RedisResultType.Error;

    /// <summary>For a verbatim string, its three-letter format (e.g. <c>txt</c>); otherwise null.</summary>
    public string? VerbatimFormat { get; private init; }

    /// <summary>The number of elements of an aggregate (array, set, push; a map counts keys and values).</summary>
    public int Length => _items?.Length ?? 0;

    /// <summary>Element <paramref name="index"/> of an aggregate.</summary>
    public RedisResult this[int index] => AsArray()[index];

    internal static RedisResult SimpleString(ReadOnlyMemory<byte> bytes) => new(RedisResultType.SimpleString, bytes);

    internal static RedisResult Error(ReadOnlyMemory<byte> bytes) => new(RedisResultType.Error, bytes);

    internal static RedisResult Bulk(ReadOnlyMemory<byte> bytes) => new(RedisResultType.BulkString, bytes);

    internal static RedisResult BigNumber(ReadOnlyMemory<byte> bytes) => new(RedisResultType.BigNumber, bytes);

    internal static RedisResult Verbatim(string format, ReadOnlyMemory<byte> text) =>
        new(RedisResultType.VerbatimString, text) { VerbatimFormat = format };

    internal static RedisResult Integer(long value) => new(RedisResultType.Integer, integer: value);

    internal static RedisResult Double(double value) => new(RedisResultType.Double, number: value);

    internal static RedisResult Boolean(bool value) => new(RedisResultType.Boolean, integer: value ? 1 : 0);

    internal static RedisResult Aggregate(RedisResultType type, RedisResult[] items) => new(type, items: items);

    /// <summary>The value as text: strings (UTF-8), integers, doubles, booleans, big numbers, error text. Null for null.</summary>
    public string? AsString() => Type switch
    {
        RedisResultType.Null => null,
        RedisResultType.SimpleString or RedisResultType.BulkString or RedisResultType.Error
            or RedisResultType.BigNumber or RedisResultType.VerbatimString => Encoding.UTF8.GetString(_bytes.Span),
        RedisResultType.Integer => _integer.ToString(CultureInfo.InvariantCulture),
        RedisResultType.Double => _double.ToString("R", CultureInfo.InvariantCulture),
        RedisResultType.Boolean => _integer != 0 ? "true" : "false",
        _ => throw RedisErrors.WrongType(Type, "a string"),
    };

    /// <summary>The value as a 64-bit integer: an integer reply, or a string holding one.</summary>
    public long AsInt64()
    {
        switch (Type)
        {
            case RedisResultType.Integer or RedisResultType.Boolean:
                return _integer;
            case RedisResultType.SimpleString or RedisResultType.BulkString or RedisResultType.BigNumber:
                if (long.TryParse(_bytes.Span, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
                {
                    return n;
                }
                throw new InvalidOperationException($"The Redis reply '{AsString()}' is not a 64-bit integer.");
            default:
                throw RedisErrors.WrongType(Type, "an integer");
        }
    }

    /// <summary>The value as a double: a double reply, an integer, or a string holding a number.</summary>
    public double AsDouble() => Type switch
    {
        RedisResultType.Double => _double,
        RedisResultType.Integer => _integer,
        RedisResultType.SimpleString or RedisResultType.BulkString or RedisResultType.BigNumber
            when double.TryParse(_bytes.Span, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
        _ => throw RedisErrors.WrongType(Type, "a number"),
    };

    /// <summary>The value as a boolean: RESP3 boolean, or an integer (non-zero is true).</summary>
    public bool AsBoolean() => Type switch
    {
        RedisResultType.Boolean or RedisResultType.Integer => _integer != 0,
        _ => throw RedisErrors.WrongType(Type, "a boolean"),
    };

    /// <summary>The raw bytes of a string-like value (no copy). Empty for null.</summary>
    public ReadOnlyMemory<byte> AsMemory() => Type switch
    {
        RedisResultType.Null => ReadOnlyMemory<byte>.Empty,
        RedisResultType.SimpleString or RedisResultType.BulkString or RedisResultType.Error
            or RedisResultType.BigNumber or RedisResultType.VerbatimString => _bytes,
        _ => throw RedisErrors.WrongType(Type, "a string"),
    };

    /// <summary>A copy of the bytes of a string-like value; null for null.</summary>
    public byte[]? AsBytes() => IsNull ? null : AsMemory().ToArray();

    /// <summary>The elements of an array, set, push or map (maps as alternating keys and values). Empty for null.</summary>
    public IReadOnlyList<RedisResult> AsArray() => Type switch
    {
        RedisResultType.Null => NoItems,
        RedisResultType.Array or RedisResultType.Set or RedisResultType.Push or RedisResultType.Map => _items!,
        _ => throw RedisErrors.WrongType(Type, "an array"),
    };

    /// <summary>
    /// The key/value pairs of a RESP3 map, or of a RESP2 flat array of alternating keys and values
    /// (how RESP2 servers send HELLO and XINFO replies). Later duplicates win.
    /// </summary>
    public IReadOnlyDictionary<string, RedisResult> AsMap()
    {
        if (Type is not (RedisResultType.Map or RedisResultType.Array) || (_items!.Length & 1) != 0)
        {
            throw RedisErrors.WrongType(Type, "a map (or an even-length array of key/value pairs)");
        }
        var map = new Dictionary<string, RedisResult>(_items.Length / 2, StringComparer.Ordinal);
        for (var i = 0; i < _items.Length; i += 2)
        {
            map[_items[i].AsString() ?? ""] = _items[i + 1];
        }
        return map;
    }

    /// <summary>A short description for logs and test failures.</summary>
    public override string ToString() => Type switch
    {
        RedisResultType.Array or RedisResultType.Set or RedisResultType.Map or RedisResultType.Push => $"{Type}[{Length}]",
        RedisResultType.Null => "(nil)",
        _ => $"{Type}: {AsString()}",
    };
}
