namespace SynthVlm.Dashboard.Telemetry;

/// <summary>How much telemetry the dashboard keeps in memory; the oldest goes first.</summary>
public sealed class TelemetryStoreOptions
{
    /// <summary>Traces kept.</summary>
    public int MaxTraces { get; set; } = 2000;

    /// <summary>Spans kept per trace; more are counted in <see cref="TraceSummary.DroppedSpans"/>.</summary>
    public int MaxSpansPerTrace { get; set; } = 20_000;

    /// <summary>Spans kept across all traces (the oldest traces are evicted).</summary>
    public int MaxSpans { get; set; } = 100_000;

    /// <summary>Structured log records kept.</summary>
    public int MaxLogs { get; set; } = 50_000;

    /// <summary>Metric time series kept; points of new series beyond it are dropped.</summary>
    public int MaxSeries { get; set; } = 5_000;

    /// <summary>Points kept per series.</summary>
    public int MaxPointsPerSeries { get; set; } = 720;
}

/// <summary>An attribute, its value rendered as text (arrays and maps as JSON).</summary>
public sealed record TelemetryAttribute(string Key, string Value);

/// <summary>A span's status.</summary>
public enum SpanStatus
{
    /// <summary>Not set.</summary>
    Unset,

    /// <summary>Explicitly OK.</summary>
    Ok,

    /// <summary>Failed.</summary>
    Error,
}

/// <summary>An event recorded on a span.</summary>
public sealed record SpanEventRecord(string Name, DateTimeOffset Time, IReadOnlyList<TelemetryAttribute> Attributes);

/// <summary>A link from a span to another span.</summary>
public sealed record SpanLinkRecord(string TraceId, string SpanId);

/// <summary>One span as received.</summary>
public sealed record SpanRecord(
    string TraceId,
    string SpanId,
    string? ParentSpanId,
    string Name,
    string Kind,
    string Service,
    string? Instance,
    DateTimeOffset Start,
    DateTimeOffset End,
    SpanStatus Status,
    string? StatusMessage,
    IReadOnlyList<TelemetryAttribute> Attributes,
    IReadOnlyList<SpanEventRecord> Events,
    IReadOnlyList<SpanLinkRecord> Links)
{
    /// <summary>End minus start.</summary>
    public TimeSpan Duration => End - Start;

    /// <summary>The value of attribute <paramref name="key"/>, or null.</summary>
    public string? Attribute(string key)
    {
        foreach (var attribute in Attributes)
        {
            if (attribute.Key == key)
            {
                return attribute.Value;
            }
        }
        return null;
    }
}

/// <summary>A trace as listed.</summary>
public sealed record TraceSummary(
    string TraceId,
    string RootName,
    string RootService,
    DateTimeOffset Start,
    TimeSpan Duration,
    int SpanCount,
    int ErrorCount,
    IReadOnlyList<string> Services,
    string? Run,
    int DroppedSpans);

/// <summary>A span in waterfall order with its depth.</summary>
public sealed record WaterfallSpan(SpanRecord Span, int Depth, bool ParentMissing);

/// <summary>A trace with its spans depth-first, children by start time.</summary>
public sealed record TraceDetail(TraceSummary Summary, IReadOnlyList<WaterfallSpan> Spans);

/// <summary>A structured log record.</summary>
public sealed record StructuredLog(
    long Sequence,
    DateTimeOffset Time,
    string Severity,
    int SeverityNumber,
    string Message,
    string Service,
    string? Instance,
    string? Category,
    string? TraceId,
    string? SpanId,
    IReadOnlyList<TelemetryAttribute> Attributes);

/// <summary>Which log records to read.</summary>
public sealed record LogQuery(string? Service = null, int MinSeverityNumber = 0, string? Text = null, string? TraceId = null, long AfterSequence = 0, int Limit = 200);

/// <summary>The kind of a metric.</summary>
public enum MetricKind
{
    /// <summary>A last value.</summary>
    Gauge,

    /// <summary>A sum (counter or up-down counter).</summary>
    Sum,

    /// <summary>An explicit-bucket histogram.</summary>
    Histogram,
}

/// <summary>One point of a series: the gauge or sum value (histogram: its sum) and, for histograms, count and buckets.</summary>
public sealed record MetricPoint(DateTimeOffset Time, double Value, long Count, IReadOnlyList<double>? Bounds, IReadOnlyList<long>? BucketCounts);

/// <summary>Identifies a series: service, instance, instrument and its attributes ("k=v,k=v" sorted by key).</summary>
public sealed record MetricSeriesKey(string Service, string Instance, string Name, string Attributes);

/// <summary>A metric time series.</summary>
public sealed record MetricSeries(MetricSeriesKey Key, string Unit, string Description, MetricKind Kind, bool Monotonic, bool Cumulative, IReadOnlyList<MetricPoint> Points);
