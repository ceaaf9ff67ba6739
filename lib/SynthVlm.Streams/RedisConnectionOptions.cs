using System.Globalization;
using StackExchange.Redis;

namespace SynthVlm.Streams;

/// <summary>
/// Where and how to connect: parsed from the StackExchange.Redis connection-string format that
/// .NET Aspire injects as <c>ConnectionStrings__redis</c>, or from a <c>redis://</c> / <c>rediss://</c> URI,
/// with errors that name the offending part; <see cref="ToConfigurationOptions"/> hands it to
/// StackExchange.Redis.
/// </summary>
public sealed record RedisConnectionOptions
{
    /// <summary>The default Redis port.</summary>
    public const int DefaultPort = 6379;

    /// <summary>Host name or IP address of the server.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port of the server.</summary>
    public int Port { get; init; } = DefaultPort;

    /// <summary>The endpoint as <c>host:port</c>.</summary>
    public string EndPoint => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>ACL user name, or null for the default user.</summary>
    public string? User { get; init; }

    /// <summary>Password, or null when the server needs none. Never printed.</summary>
    public string? Password { get; init; }

    /// <summary>Database index selected after connecting.</summary>
    public int Database { get; init; }

    /// <summary>Whether to wrap the socket in TLS.</summary>
    public bool UseTls { get; init; }

    /// <summary>Bound on one connect attempt including the handshake.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Default bound on one command, from sending until the reply (including waiting for a reconnect).</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Client name set with HELLO SETNAME / CLIENT SETNAME, or null.</summary>
    public string? ClientName { get; init; }

    /// <summary>The protocol to speak; <see cref="RedisProtocol.Resp3"/> (StackExchange.Redis falls back to RESP2 when the server does not know HELLO).</summary>
    public RedisProtocol Protocol { get; init; } = RedisProtocol.Resp3;

    /// <summary>Whether a failed first connect throws (StackExchange's abortConnect); false keeps retrying in the background.</summary>
    public bool AbortConnect { get; init; } = true;

    /// <summary>
    /// Parses a StackExchange.Redis configuration string (<c>host:port[,password=..][,user=..][,ssl=true]
    /// [,abortConnect=false][,connectTimeout=ms][,syncTimeout=ms][,defaultDatabase=n][,name=..][,protocol=resp2|resp3]</c>;
    /// unknown keys are ignored) or a <c>redis://[user:password@]host[:port][/db]</c> URI (<c>rediss://</c> for TLS).
    /// </summary>
    /// <exception cref="FormatException">A part or key has an invalid value; the message names it.</exception>
    /// <exception cref="ArgumentException">The string is empty.</exception>
    public static RedisConnectionOptions Parse(string connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        var text = connectionString.Trim();
        if (text.Length == 0)
        {
            throw new ArgumentException(
                $"The Redis connection string is empty; expected \"host:port[,password=...]\" (set {KnownEnvironment.RedisConnectionStringEnv}).",
                nameof(connectionString));
        }
        return text.StartsWith("redis://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase)
            ? ParseUri(text)
            : ParseConfiguration(text);
    }

    /// <summary>The StackExchange.Redis configuration for these options (password included).</summary>
    public ConfigurationOptions ToConfigurationOptions()
    {
        var options = new ConfigurationOptions
        {
            User = User,
            Password = Password,
            DefaultDatabase = Database,
            Ssl = UseTls,
            ConnectTimeout = (int)ConnectTimeout.TotalMilliseconds,
            SyncTimeout = (int)CommandTimeout.TotalMilliseconds,
            AsyncTimeout = (int)CommandTimeout.TotalMilliseconds,
            ClientName = ClientName,
            Protocol = Protocol,
            AbortOnConnectFail = AbortConnect,
        };
        if (UseTls)
        {
            options.SslHost = Host;
        }
        options.EndPoints.Add(Host, Port);
        return options;
    }

    /// <summary>
    /// The options as a StackExchange.Redis configuration string (password included): the form
    /// <c>AddRedisClient</c> reads from <c>ConnectionStrings:redis</c>.
    /// </summary>
    public string ToConfigurationString() => ToConfigurationOptions().ToString(includePassword: true);

    /// <summary>The options without the password, safe to log.</summary>
    public override string ToString()
    {
        var s = $"{EndPoint},database={Database},protocol={Protocol}";
        if (User is not null)
        {
            s += $",user={User}";
        }
        if (Password is not null)
        {
            s += ",password=*****";
        }
        if (UseTls)
        {
            s += ",ssl=true";
        }
        if (ClientName is not null)
        {
            s += $",name={ClientName}";
        }
        return s;
    }

    private static RedisConnectionOptions ParseConfiguration(string text)
    {
        var options = new RedisConnectionOptions();
        var sawEndPoint = false;
        foreach (var rawPart in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = rawPart.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0)
            {
                if (sawEndPoint)
                {
                    // Several endpoints mean a cluster or sentinel set, which this client does not speak.
                    throw new FormatException($"The Redis connection string names a second endpoint '{rawPart}'; only one endpoint is supported.");
                }
                var (host, port) = ParseEndPoint(rawPart, rawPart);
                options = options with { Host = host, Port = port };
                sawEndPoint = true;
                continue;
            }
            var key = rawPart[..eq].Trim();
            var value = rawPart[(eq + 1)..].Trim();
            options = key.ToUpperInvariant() switch
            {
                "PASSWORD" => options with { Password = value },
                "USER" => options with { User = value.Length == 0 ? null : value },
                "SSL" => options with { UseTls = ParseBool(key, value) },
                "ABORTCONNECT" => options with { AbortConnect = ParseBool(key, value) },
                "CONNECTTIMEOUT" => options with { ConnectTimeout = ParseMilliseconds(key, value) },
                "SYNCTIMEOUT" or "ASYNCTIMEOUT" => options with { CommandTimeout = ParseMilliseconds(key, value) },
                "DEFAULTDATABASE" => options with { Database = ParseInt(key, value, 0, int.MaxValue) },
                "NAME" => options with { ClientName = value.Length == 0 ? null : value },
                "PROTOCOL" => options with { Protocol = ParseProtocol(key, value) },
                _ => options,
            };
        }
        if (!sawEndPoint)
        {
            throw new FormatException($"The Redis connection string '{Redact(text)}' has no endpoint; expected \"host:port\" as its first part.");
        }
        return options;
    }

    private static RedisConnectionOptions ParseUri(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
        {
            throw new FormatException($"The Redis URI '{Redact(text)}' is not a valid redis://[user:password@]host[:port][/db] URI.");
        }
        var options = new RedisConnectionOptions
        {
            Host = uri.Host.Trim('[', ']'),
            Port = uri.IsDefaultPort || uri.Port < 0 ? DefaultPort : uri.Port,
            UseTls = uri.Scheme.Equals("rediss", StringComparison.OrdinalIgnoreCase),
        };
        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            options = colon < 0
                ? options with { Password = Uri.UnescapeDataString(uri.UserInfo) }
                : options with
                {
                    User = colon == 0 ? null : Uri.UnescapeDataString(uri.UserInfo[..colon]),
                    Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]),
                };
        }
        var path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0)
        {
            options = options with { Database = ParseInt("database (URI path)", path, 0, int.MaxValue) };
        }
        return options;
    }

    private static (string Host, int Port) ParseEndPoint(string part, string context)
    {
        string host;
        string? portText;
        if (part.StartsWith('['))
        {
            var close = part.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                throw new FormatException($"The Redis endpoint '{context}' has an unclosed '[' in its IPv6 address.");
            }
            host = part[1..close];
            portText = close + 1 < part.Length && part[close + 1] == ':' ? part[(close + 2)..] : null;
        }
        else
        {
            var colon = part.LastIndexOf(':');
            host = colon < 0 ? part : part[..colon];
            portText = colon < 0 ? null : part[(colon + 1)..];
        }
        if (host.Length == 0)
        {
            throw new FormatException($"The Redis endpoint '{context}' has no host.");
        }
        var port = portText is null ? DefaultPort : ParseInt($"port of endpoint '{context}'", portText, 1, 65535);
        return (host, port);
    }

    private static bool ParseBool(string key, string value) =>
        bool.TryParse(value, out var b) ? b : throw new FormatException($"The Redis connection string key '{key}' must be true or false, not '{value}'.");

    private static int ParseInt(string key, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new FormatException($"The Redis connection string's {key} must be an integer in [{min}, {max}], not '{value}'.");

    private static TimeSpan ParseMilliseconds(string key, string value) =>
        TimeSpan.FromMilliseconds(ParseInt($"key '{key}' (milliseconds)", value, 1, int.MaxValue));

    private static RedisProtocol ParseProtocol(string key, string value) => value.ToUpperInvariant() switch
    {
        "RESP3" or "3" => RedisProtocol.Resp3,
        "RESP2" or "2" => RedisProtocol.Resp2,
        _ => throw new FormatException($"The Redis connection string key '{key}' must be resp2 or resp3, not '{value}'."),
    };

    private static string Redact(string text)
    {
        // Never echo a secret into an exception message or a log.
        var i = text.IndexOf("password=", StringComparison.OrdinalIgnoreCase);
        if (i >= 0)
        {
            var end = text.IndexOf(',', i);
            return text[..(i + 9)] + "*****" + (end < 0 ? "" : text[end..]);
        }
        var at = text.IndexOf('@', StringComparison.Ordinal);
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        return at > 0 && scheme > 0 ? text[..(scheme + 3)] + "*****" + text[at..] : text;
    }
}
