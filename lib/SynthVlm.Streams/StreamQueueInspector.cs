using StackExchange.Redis;

namespace SynthVlm.Streams;

/// <summary>Reads queue depth (XLEN, XINFO GROUPS) for health checks, dashboards and backpressure.</summary>
public sealed class StreamQueueInspector
{
    private readonly IDatabaseAsync _db;

    /// <summary>Creates an inspector over a (shared) database.</summary>
    public StreamQueueInspector(IDatabaseAsync db)
    {
        ArgumentNullException.ThrowIfNull(db);
        _db = db;
    }

    /// <summary>The queue state of <paramref name="group"/> on <paramref name="stream"/>; a missing stream or group is reported, not thrown.</summary>
    public async Task<StreamQueueInfo> GetQueueInfoAsync(string stream, string group, CancellationToken cancellationToken = default)
    {
        var length = await _db.StreamLengthAsync(stream).WaitAsync(cancellationToken).ConfigureAwait(false);
        var groups = await ReadGroupsAsync(_db, stream, cancellationToken).ConfigureAwait(false);
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

    internal static async Task<List<GroupInfo>> ReadGroupsAsync(IDatabaseAsync db, string stream, CancellationToken cancellationToken)
    {
        StreamGroupInfo[] groups;
        try
        {
            groups = await db.StreamGroupInfoAsync(stream).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.Contains("no such key", StringComparison.Ordinal))
        {
            return [];
        }
        var list = new List<GroupInfo>(groups.Length);
        foreach (var g in groups)
        {
            // Lag is null when Redis cannot compute it (after some deletions).
            list.Add(new GroupInfo(g.Name, g.PendingMessageCount, g.Lag, g.ConsumerCount, g.LastDeliveredId));
        }
        return list;
    }
}
