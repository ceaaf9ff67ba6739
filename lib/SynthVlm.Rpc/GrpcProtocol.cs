using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Primitives;

namespace SynthVlm.Rpc;

/// <summary>The wire rules of gRPC over HTTP/2 shared by the server and the client.</summary>
internal static class GrpcProtocol
{
    public const string ContentType = "application/grpc";
    public const string StatusHeader = "grpc-status";
    public const string MessageHeader = "grpc-message";
    public const string TimeoutHeader = "grpc-timeout";
    public const string EncodingHeader = "grpc-encoding";
    public const string AcceptEncodingHeader = "grpc-accept-encoding";
    public const string TeHeader = "te";
    public const string TeTrailers = "trailers";
    public const string SupportedEncodings = "identity,gzip,deflate";
    public const string UserAgent = "grpc-dotnet-synthvlm/1.0";
    public const int HeaderSize = 5;

    /// <summary>The longest delay a CancellationTokenSource timer accepts.</summary>
    public static readonly TimeSpan MaxTimerDelay = TimeSpan.FromMilliseconds(uint.MaxValue - 2);

    /// <summary>
    /// A timer delay that never fires before <paramref name="delay"/> has passed: timers truncate
    /// to whole milliseconds and tick on a millisecond clock, so round up and add one.
    /// </summary>
    public static TimeSpan TimerDelay(TimeSpan delay) => TimeSpan.FromMilliseconds(Math.Ceiling(delay.TotalMilliseconds) + 1);

    /// <summary>The longest timeout that still fits in 8 digits of a unit.</summary>
    private const long MaxTimeoutValue = 99_999_999;

    public static bool IsGrpcContentType(string? contentType) =>
        contentType is not null
        && contentType.StartsWith(ContentType, StringComparison.OrdinalIgnoreCase)
        && (contentType.Length == ContentType.Length || contentType[ContentType.Length] is '+' or ';');

    public static void WriteHeader(Span<byte> destination, bool compressed, int length)
    {
        destination[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(destination[1..], (uint)length);
    }

    /// <summary>Parses <c>grpc-timeout</c>: at most 8 digits and one unit (H M S m u n).</summary>
    public static bool TryParseTimeout(string? value, out TimeSpan timeout)
    {
        timeout = default;
        if (value is null || value.Length < 2 || value.Length > 9)
        {
            return false;
        }
        long amount = 0;
        for (var i = 0; i < value.Length - 1; i++)
        {
            var c = value[i];
            if (c is < '0' or > '9')
            {
                return false;
            }
            amount = (amount * 10) + (c - '0');
        }
        long ticks;
        switch (value[^1])
        {
            case 'H': ticks = amount * TimeSpan.TicksPerHour; break;
            case 'M': ticks = amount * TimeSpan.TicksPerMinute; break;
            case 'S': ticks = amount * TimeSpan.TicksPerSecond; break;
            case 'm': ticks = amount * TimeSpan.TicksPerMillisecond; break;
            case 'u': ticks = amount * 10; break;
            case 'n': ticks = (amount + 99) / 100; break;
            default: return false;
        }
        timeout = TimeSpan.FromTicks(ticks);
        return true;
    }

    /// <summary>Formats a timeout in the finest unit that fits 8 digits, rounding up so a deadline is never shortened by more than a tick.</summary>
    public static string FormatTimeout(TimeSpan timeout)
    {
        var ticks = Math.Max(timeout.Ticks, 0);
        long ms = (ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond;
        if (ms <= MaxTimeoutValue)
        {
            return ms.ToString(CultureInfo.InvariantCulture) + "m";
        }
        long s = (ticks + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond;
        if (s <= MaxTimeoutValue)
        {
            return s.ToString(CultureInfo.InvariantCulture) + "S";
        }
        long m = (ticks + TimeSpan.TicksPerMinute - 1) / TimeSpan.TicksPerMinute;
        if (m <= MaxTimeoutValue)
        {
            return m.ToString(CultureInfo.InvariantCulture) + "M";
        }
        long h = Math.Min((ticks + TimeSpan.TicksPerHour - 1) / TimeSpan.TicksPerHour, MaxTimeoutValue);
        return h.ToString(CultureInfo.InvariantCulture) + "H";
    }

    /// <summary>Percent-encodes <c>grpc-message</c>: 0x20–0x7E except '%' pass, all else is %XX of the UTF-8 bytes.</summary>
    public static string PercentEncode(string message)
    {
        var clean = true;
        foreach (var c in message)
        {
            if (c is < ' ' or > '~' or '%')
            {
                clean = false;
                break;
            }
        }
        if (clean)
        {
            return message;
        }
        var bytes = Encoding.UTF8.GetBytes(message);
        var sb = new StringBuilder(bytes.Length * 3);
        foreach (var b in bytes)
        {
            if (b is >= 0x20 and <= 0x7E and not (byte)'%')
            {
                sb.Append((char)b);
            }
            else
            {
                sb.Append('%').Append(HexUpper[b >> 4]).Append(HexUpper[b & 0xF]);
            }
        }
        return sb.ToString();
    }

    private const string HexUpper = "0123456789ABCDEF";

    /// <summary>Decodes a percent-encoded <c>grpc-message</c>; bad escapes are kept as they are.</summary>
    public static string PercentDecode(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return string.Empty;
        }
        if (!value.Contains('%', StringComparison.Ordinal))
        {
            return value;
        }
        var bytes = new byte[value.Length];
        var n = 0;
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '%' && i + 2 < value.Length
                && IsHex(value[i + 1]) && IsHex(value[i + 2]))
            {
                bytes[n++] = (byte)((HexValue(value[i + 1]) << 4) | HexValue(value[i + 2]));
                i += 2;
            }
            else
            {
                // Latin-1 or ASCII as received; a non-ASCII char here is a sender bug, kept verbatim.
                if (c > 0x7F)
                {
                    var extra = Encoding.UTF8.GetBytes(c.ToString());
                    if (n + extra.Length > bytes.Length)
                    {
                        Array.Resize(ref bytes, bytes.Length + extra.Length);
                    }
                    extra.CopyTo(bytes, n);
                    n += extra.Length;
                }
                else
                {
                    bytes[n++] = (byte)c;
                }
            }
        }
        return Encoding.UTF8.GetString(bytes, 0, n);
    }

    private static bool IsHex(char c) => c is (>= '0' and <= '9') or (>= 'a' and <= 'f') or (>= 'A' and <= 'F');

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    /// <summary>Encodes binary metadata as unpadded base64, as senders should.</summary>
    public static string EncodeBinary(byte[] value) => Convert.ToBase64String(value).TrimEnd('=');

    /// <summary>Decodes base64 metadata, padded or not.</summary>
    public static byte[] DecodeBinary(string value)
    {
        var trimmed = value.Trim();
        var pad = (4 - (trimmed.Length % 4)) % 4;
        if (pad == 3)
        {
            throw new FormatException("Invalid base64 length in binary metadata.");
        }
        return Convert.FromBase64String(pad == 0 ? trimmed : trimmed + new string('=', pad));
    }

    /// <summary>Whether a header is part of the protocol rather than application metadata.</summary>
    public static bool IsReservedHeader(string name) =>
        name.Length == 0
        || name[0] == ':'
        || name.StartsWith("grpc-", StringComparison.OrdinalIgnoreCase)
        || name.Equals("content-type", StringComparison.OrdinalIgnoreCase)
        || name.Equals("te", StringComparison.OrdinalIgnoreCase)
        || name.Equals("host", StringComparison.OrdinalIgnoreCase)
        || name.Equals("content-length", StringComparison.OrdinalIgnoreCase)
        || name.Equals("accept-encoding", StringComparison.OrdinalIgnoreCase)
        || name.Equals("transfer-encoding", StringComparison.OrdinalIgnoreCase)
        || name.Equals("connection", StringComparison.OrdinalIgnoreCase);

    /// <summary>Adds one received header to <paramref name="metadata"/>, splitting joined -bin values.</summary>
    public static void AddReceived(Metadata metadata, string name, string value)
    {
        var key = name.ToLowerInvariant();
        if (Metadata.IsBinaryKey(key))
        {
            foreach (var part in value.Split(','))
            {
                metadata.Add(key, DecodeBinary(part));
            }
        }
        else
        {
            metadata.Add(key, value);
        }
    }

    public static void AddReceived(Metadata metadata, string name, StringValues values)
    {
        foreach (var v in values)
        {
            if (v is not null)
            {
                AddReceived(metadata, name, v);
            }
        }
    }

    /// <summary>The wire form of a metadata entry's value.</summary>
    public static string WireValue(Metadata.Entry entry) => entry.IsBinary ? EncodeBinary(entry.ValueBytes) : entry.Value;

    /// <summary>The status a client derives from the HTTP status when <c>grpc-status</c> is missing.</summary>
    public static RpcStatusCode FromHttpStatus(int httpStatus) => httpStatus switch
    {
        400 => RpcStatusCode.Internal,
        401 => RpcStatusCode.Unauthenticated,
        403 => RpcStatusCode.PermissionDenied,
        404 => RpcStatusCode.Unimplemented,
        429 or 502 or 503 or 504 => RpcStatusCode.Unavailable,
        431 => RpcStatusCode.Internal,
        _ => RpcStatusCode.Unknown,
    };

    /// <summary>The status a client reports when the server resets the stream with an HTTP/2 error code.</summary>
    public static RpcStatusCode FromHttp2ErrorCode(long code) => code switch
    {
        7 => RpcStatusCode.Unavailable,
        8 => RpcStatusCode.Cancelled,
        11 => RpcStatusCode.ResourceExhausted,
        12 => RpcStatusCode.PermissionDenied,
        _ => RpcStatusCode.Internal,
    };

    public static bool TryParseStatus(string? value, out RpcStatusCode code)
    {
        code = RpcStatusCode.Unknown;
        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            code = (RpcStatusCode)n;
            return true;
        }
        return false;
    }

    public static string StatusText(RpcStatusCode code) => ((int)code) switch
    {
        >= 0 and <= 16 => StatusTexts[(int)code],
        var n => n.ToString(CultureInfo.InvariantCulture),
    };

    private static readonly string[] StatusTexts = Enumerable.Range(0, 17).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Reads a frame header from <paramref name="buffer"/>; false when fewer than 5 bytes.</summary>
    public static bool TryReadHeader(in ReadOnlySequence<byte> buffer, out byte flag, out uint length)
    {
        flag = 0;
        length = 0;
        if (buffer.Length < HeaderSize)
        {
            return false;
        }
        Span<byte> header = stackalloc byte[HeaderSize];
        buffer.Slice(0, HeaderSize).CopyTo(header);
        flag = header[0];
        length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        return true;
    }
}
