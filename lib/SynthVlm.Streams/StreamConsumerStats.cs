namespace SynthVlm.Streams;

/// <summary>Thread-safe counters of one consumer, readable by its host.</summary>
public sealed class StreamConsumerStats
{
    private long _received;
    private long _acked;
    private long _failed;
    private long _deadLettered;

    /// <summary>Entries delivered (new or reclaimed).</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Entries acknowledged after the handler succeeded.</summary>
    public long Acked => Interlocked.Read(ref _acked);

    /// <summary>Handler failures.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Entries dead-lettered.</summary>
    public long DeadLettered => Interlocked.Read(ref _deadLettered);

    internal void AddReceived(long n) => Interlocked.Add(ref _received, n);

    internal void AddAcked() => Interlocked.Increment(ref _acked);

    internal void AddFailed() => Interlocked.Increment(ref _failed);

    internal void AddDeadLettered() => Interlocked.Increment(ref _deadLettered);

    /// <summary>The counters as text.</summary>
    public override string ToString() => $"received={Received} acked={Acked} failed={Failed} dead={DeadLettered}";
}
