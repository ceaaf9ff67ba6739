using StackExchange.Redis;

namespace SynthVlm.Testing;

/// <summary>Short readers for raw <see cref="RedisResult"/> replies in assertions.</summary>
public static class RedisResultTestExtensions
{
    public static string? AsString(this RedisResult result) => result.IsNull ? null : result.ToString();

    public static long AsInt64(this RedisResult result) => (long)result;

    public static byte[]? AsBytes(this RedisResult result) => (byte[]?)result;

    public static RedisResult[] AsArray(this RedisResult result) => (RedisResult[])result!;

    /// <summary>A flat [field, value, ...] array (RESP2) or a map (RESP3) as a dictionary.</summary>
    public static Dictionary<string, RedisResult> AsMap(this RedisResult result) => result.ToDictionary();
}
