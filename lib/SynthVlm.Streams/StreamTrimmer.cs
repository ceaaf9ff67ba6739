using StackExchange.Redis;

namespace SynthVlm.Streams;

/// <summary>
/// Keeps a work stream's memory bounded by its backlog rather than by everything ever sent
/// through it: entries that every consumer group has been delivered and has acknowledged are
/// removed (XTRIM MINID), while undelivered entries and every pending entry (delivered, not yet
/// acknowledged, possibly to be claimed by another consumer) stay.
/// </summary>
public static class StreamTrimmer
{
    /// <summary>Trims <paramref name="stream"/> below the oldest entry some group still needs; returns how many entries went.</summary>
    /// <remarks>A stream without consumer groups is left alone: nobody has read it yet.</remarks>
    /// <param name="db">The database.</param>
    /// <param name="stream">The stream key.</param>
    /// <param name="approximate">Trim whole radix-tree nodes only (MINID ~, cheap; the default), or exactly.</param>
    /// <param name="cancellationToken">Cancels the calls.</param>
    public static async Task<long> TrimAcknowledgedAsync(IDatabaseAsync db, string stream, bool approximate = true, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(db);
        var groups = await StreamQueueInspector.ReadGroupsAsync(db, stream, cancellationToken).ConfigureAwait(false);
        if (groups.Count == 0)
        {
            return 0;
        }
        (ulong Ms, ulong Seq)? keepFrom = null;
        foreach (var group in groups)
        {
            if (!TryParse(group.LastDeliveredId, out var boundary))
            {
                return 0;
            }
            // Entries after last-delivered-id are undelivered; the boundary entry itself is kept
            // (MINID keeps ids >= it), which costs one entry and needs no "next id" arithmetic.
            if (group.Pending > 0)
            {
                var summary = await db.StreamPendingAsync(stream, group.Name).WaitAsync(cancellationToken).ConfigureAwait(false);
                if (TryParse(summary.LowestPendingMessageId, out var oldestPending) && oldestPending.CompareTo(boundary) < 0)
                {
                    boundary = oldestPending;
                }
            }
            if (keepFrom is null || boundary.CompareTo(keepFrom.Value) < 0)
            {
                keepFrom = boundary;
            }
        }
        if (keepFrom is not { } from || from == (0UL, 0UL))
        {
            return 0;
        }
        var id = $"{from.Ms}-{from.Seq}";
        return await db.StreamTrimByMinIdAsync(stream, id, useApproximateMaxLength: approximate).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private static bool TryParse(RedisValue id, out (ulong Ms, ulong Seq) value)
    {
        value = default;
        if (id.IsNullOrEmpty)
        {
            return false;
        }
        return TryParse(id.ToString(), out value);
    }

    private static bool TryParse(string? id, out (ulong Ms, ulong Seq) value)
    {
        value = default;
        if (id is null)
        {
            return false;
        }
        var dash = id.IndexOf('-', StringComparison.Ordinal);
        if (dash < 0)
        {
            return ulong.TryParse(id, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value.Ms);
        }
        return ulong.TryParse(id.AsSpan(0, dash), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value.Ms)
            && ulong.TryParse(id.AsSpan(dash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value.Seq);
    }
}
