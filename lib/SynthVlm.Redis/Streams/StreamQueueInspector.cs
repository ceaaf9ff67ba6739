namespace SynthVlm.Redis.Streams;

/// <summary>Reads queue depth (XLEN, XINFO GROUPS) for health checks, dashboards and backpressure.</summary>
public sealed class StreamQueueInspector
{
    private readonly RedisConnection _connection;

    /// <summary>Creates an inspector over a (shared) connection.</summary>
    public StreamQueueInspector(RedisConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connection = connection;
    }

    /// <summary>The queue state of <paramref name="group"/> on <paramref name="stream"/>; a missing stream or group is reported, not thrown.</summary>
    public async Task<StreamQueueInfo> GetQueueInfoAsync(string stream, string group, CancellationToken cancellationToken = default)
    {
        var length = (await _connection.ExecuteAsync("XLEN", cancellationToken, stream).ConfigureAwait(false)).AsInt64();
        var groups = await ReadGroupsAsync(_connection, stream, cancellationToken).ConfigureAwait(false);
        foreach (var g in groups)
        {
            if (g.Name == group)
            {
                return new StreamQueueInfo(stream, group, length, g.Pending, g.Lag ?? -1, g.Consumers, g.LastDeliveredId, GroupExists: true);
            }
        }
        return new StreamQueueInfo(stream, group, length, 0, -1, 0, null, GroupExists: false);
    }

    internal readonly record struct GroupInfo(string Name, long Pending, long? Lag, long Consumers, string? LastDeliveredId);

    internal static async Task<List<GroupInfo>> ReadGroupsAsync(RedisConnection connection, string stream, CancellationToken cancellationToken)
    {
        RedisResult reply;
        try
        {
            reply = await connection.ExecuteAsync("XINFO", cancellationToken, "GROUPS", stream).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.ServerMessage.Contains("no such key", StringComparison.Ordinal))
        {
            return [];
        }
        var list = new List<GroupInfo>(reply.Length);
        foreach (var item in reply.AsArray())
        {
            // RESP3 sends a map per group, RESP2 a flat key/value array; AsMap reads both.
            var map = item.AsMap();
            var lag = map.TryGetValue("lag", out var l) && !l.IsNull ? l.AsInt64() : (long?)null;
            list.Add(new GroupInfo(
                map["name"].AsString() ?? "",
                map["pending"].AsInt64(),
                lag,
                map["consumers"].AsInt64(),
                map.TryGetValue("last-delivered-id", out var last) ? last.AsString() : null));
        }
        return list;
    }
}
