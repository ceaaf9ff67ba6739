namespace SynthVlm.Streams;

/// <summary>A stream's queue state as seen by one consumer group.</summary>
/// <param name="Stream">The stream.</param>
/// <param name="Group">The group.</param>
/// <param name="Length">XLEN (0 when the stream is missing).</param>
/// <param name="Pending">Delivered but not acknowledged.</param>
/// <param name="Lag">Not yet delivered to the group; -1 when Redis cannot compute it.</param>
/// <param name="Consumers">Consumers known to the group.</param>
/// <param name="LastDeliveredId">The group's last-delivered-id, or null.</param>
/// <param name="GroupExists">False when the stream or the group does not exist.</param>
public sealed record StreamQueueInfo(string Stream, string Group, long Length, long Pending, long Lag, long Consumers, string? LastDeliveredId, bool GroupExists)
{
    /// <summary>Pending + lag (lag counted as 0 when unknown): the unacknowledged backlog.</summary>
    public long Backlog => Pending + Math.Max(Lag, 0);
}
