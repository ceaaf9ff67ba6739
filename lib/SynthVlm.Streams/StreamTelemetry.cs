using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SynthVlm.Streams;

/// <summary>The Streams transport's telemetry names (ActivitySource, Meter, instruments, tags), each spelled once.</summary>
public static class StreamTelemetry
{
    /// <summary>Name of the ActivitySource and of the Meter.</summary>
    public const string SourceName = "SynthVlm.Streams";

    /// <summary>Counter: entries delivered to this consumer (new or reclaimed).</summary>
    public const string ReceivedCounter = "synthvlm.stream.received";

    /// <summary>Counter: entries acknowledged after the handler succeeded.</summary>
    public const string AckedCounter = "synthvlm.stream.acked";

    /// <summary>Counter: handler failures (the entry stays pending and is redelivered).</summary>
    public const string FailedCounter = "synthvlm.stream.failed";

    /// <summary>Counter: entries moved to the dead-letter stream.</summary>
    public const string DeadLetteredCounter = "synthvlm.stream.dead_lettered";

    /// <summary>Histogram: handler duration in seconds.</summary>
    public const string HandleDurationHistogram = "synthvlm.stream.handle.duration";

    /// <summary>Metric tag: the stream.</summary>
    public const string StreamTag = "stream";

    /// <summary>Metric tag: the consumer group.</summary>
    public const string GroupTag = "group";

    /// <summary>Span tag: messaging system (always <c>redis</c>).</summary>
    public const string MessagingSystemTag = "messaging.system";

    /// <summary>Span tag: the stream.</summary>
    public const string DestinationTag = "messaging.destination.name";

    /// <summary>Span tag: the consumer group.</summary>
    public const string ConsumerGroupTag = "messaging.consumer.group.name";

    /// <summary>Span tag: the entry id.</summary>
    public const string MessageIdTag = "messaging.message.id";

    /// <summary>Span tag: the run.</summary>
    public const string RunTag = "synthvlm.run";

    /// <summary>Span tag: the payload kind.</summary>
    public const string KindTag = "synthvlm.kind";

    /// <summary>Span tag: how many times the entry has been delivered.</summary>
    public const string DeliveryCountTag = "synthvlm.delivery_count";

    /// <summary>Value of <see cref="MessagingSystemTag"/>.</summary>
    public const string MessagingSystem = "redis";

    /// <summary>The transport's ActivitySource.</summary>
    public static ActivitySource ActivitySource { get; } = new(SourceName);

    /// <summary>The transport's Meter.</summary>
    public static Meter Meter { get; } = new(SourceName);

    internal static Counter<long> Received { get; } = Meter.CreateCounter<long>(ReceivedCounter, "{entry}", "Entries delivered to a consumer");

    internal static Counter<long> Acked { get; } = Meter.CreateCounter<long>(AckedCounter, "{entry}", "Entries acknowledged");

    internal static Counter<long> Failed { get; } = Meter.CreateCounter<long>(FailedCounter, "{entry}", "Handler failures");

    internal static Counter<long> DeadLettered { get; } = Meter.CreateCounter<long>(DeadLetteredCounter, "{entry}", "Entries dead-lettered");

    internal static Histogram<double> HandleDuration { get; } = Meter.CreateHistogram<double>(HandleDurationHistogram, "s", "Handler duration");
}
