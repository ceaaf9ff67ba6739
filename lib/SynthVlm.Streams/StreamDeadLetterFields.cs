namespace SynthVlm.Streams;

/// <summary>The extra fields of a dead letter in <see cref="KnownStreams.Dead"/>, each spelled once.</summary>
public static class StreamDeadLetterFields
{
    /// <summary>Why the entry was dead-lettered (the handler's last exception message).</summary>
    public const string Reason = "reason";

    /// <summary>The stream the entry came from.</summary>
    public const string SourceStream = "source_stream";

    /// <summary>The consumer group that gave up on it.</summary>
    public const string Group = "group";

    /// <summary>The entry's id in the source stream.</summary>
    public const string OriginalId = "original_id";

    /// <summary>How many times it was delivered.</summary>
    public const string Deliveries = "deliveries";
}
