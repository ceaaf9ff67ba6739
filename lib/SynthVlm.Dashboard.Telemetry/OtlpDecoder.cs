using System.Globalization;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using SynthVlm.Dashboard.Telemetry.Otlp;

namespace SynthVlm.Dashboard.Telemetry;

/// <summary>Turns OTLP export requests into the store's records.</summary>
internal static class OtlpDecoder
{
    private const string ServiceName = "service.name";
    private const string ServiceInstance = "service.instance.id";
    private const string UnknownService = "unknown_service";

    private static readonly string[] SpanKinds = ["unspecified", "internal", "server", "client", "producer", "consumer"];

    /// <summary>The spans of <paramref name="request"/>; spans with malformed ids are counted in <paramref name="skipped"/>.</summary>
    public static List<SpanRecord> Spans(ExportTraceServiceRequest request, out int skipped)
    {
        skipped = 0;
        var spans = new List<SpanRecord>();
        foreach (var resourceSpans in request.ResourceSpans)
        {
            var (service, instance) = Identify(resourceSpans.Resource);
            foreach (var scope in resourceSpans.ScopeSpans)
            {
                foreach (var span in scope.Spans)
                {
                    if (Id(span.TraceId, 16) is not { } traceId || Id(span.SpanId, 8) is not { } spanId)
                    {
                        skipped++;
                        continue;
                    }
                    spans.Add(new SpanRecord(
                        traceId, spanId, span.ParentSpanId.IsEmpty ? null : Id(span.ParentSpanId, 8),
                        span.Name,
                        span.Kind >= 0 && span.Kind < SpanKinds.Length ? SpanKinds[span.Kind] : "unspecified",
                        service, instance,
                        Time(span.StartTimeUnixNano), Time(Math.Max(span.EndTimeUnixNano, span.StartTimeUnixNano)),
                        span.Status?.Code switch { 1 => SpanStatus.Ok, 2 => SpanStatus.Error, _ => SpanStatus.Unset },
                        string.IsNullOrEmpty(span.Status?.Message) ? null : span.Status.Message,
                        Attributes(span.Attributes),
                        [.. span.Events.Select(e => new SpanEventRecord(e.Name, Time(e.TimeUnixNano), Attributes(e.Attributes)))],
                        [.. span.Links.Select(l => (Trace: Id(l.TraceId, 16), Span: Id(l.SpanId, 8))).Where(l => l.Trace is not null && l.Span is not null).Select(l => new SpanLinkRecord(l.Trace!, l.Span!))]));
                }
            }
        }
        return spans;
    }

    /// <summary>The log records of <paramref name="request"/> (sequence numbers are the store's to assign).</summary>
    public static List<StructuredLog> Logs(ExportLogsServiceRequest request)
    {
        var logs = new List<StructuredLog>();
        foreach (var resourceLogs in request.ResourceLogs)
        {
            var (service, instance) = Identify(resourceLogs.Resource);
            foreach (var scope in resourceLogs.ScopeLogs)
            {
                var category = string.IsNullOrEmpty(scope.Scope?.Name) ? null : scope.Scope.Name;
                foreach (var record in scope.LogRecords)
                {
                    var time = record.TimeUnixNano != 0 ? record.TimeUnixNano : record.ObservedTimeUnixNano;
                    logs.Add(new StructuredLog(
                        0, Time(time), SeverityName(record.SeverityNumber, record.SeverityText), record.SeverityNumber,
                        record.Body is null ? "" : Render(record.Body), service, instance, category,
                        record.TraceId.IsEmpty ? null : Id(record.TraceId, 16),
                        record.SpanId.IsEmpty ? null : Id(record.SpanId, 8),
                        Attributes(record.Attributes)));
                }
            }
        }
        return logs;
    }

    /// <summary>Adds the metric points of <paramref name="request"/> to <paramref name="store"/>.</summary>
    public static int AddMetrics(ExportMetricsServiceRequest request, TelemetryStore store)
    {
        var points = 0;
        foreach (var resourceMetrics in request.ResourceMetrics)
        {
            var (service, instance) = Identify(resourceMetrics.Resource);
            foreach (var scope in resourceMetrics.ScopeMetrics)
            {
                foreach (var metric in scope.Metrics)
                {
                    switch (metric.DataCase)
                    {
                        case Metric.DataOneofCase.Gauge:
                            foreach (var point in metric.Gauge.DataPoints)
                            {
                                store.AddMetric(Key(service, instance, metric.Name, point.Attributes), metric.Unit, metric.Description, MetricKind.Gauge, false, false, Number(point));
                                points++;
                            }
                            break;
                        case Metric.DataOneofCase.Sum:
                            foreach (var point in metric.Sum.DataPoints)
                            {
                                store.AddMetric(Key(service, instance, metric.Name, point.Attributes), metric.Unit, metric.Description, MetricKind.Sum, metric.Sum.IsMonotonic, metric.Sum.AggregationTemporality == 2, Number(point));
                                points++;
                            }
                            break;
                        case Metric.DataOneofCase.Histogram:
                            foreach (var point in metric.Histogram.DataPoints)
                            {
                                store.AddMetric(Key(service, instance, metric.Name, point.Attributes), metric.Unit, metric.Description, MetricKind.Histogram, true, metric.Histogram.AggregationTemporality == 2,
                                    new MetricPoint(Time(point.TimeUnixNano), point.HasSum ? point.Sum : 0, checked((long)point.Count), [.. point.ExplicitBounds], [.. point.BucketCounts.Select(c => checked((long)c))]));
                                points++;
                            }
                            break;
                        default:
                            // Exponential histograms and summaries are not shown.
                            break;
                    }
                }
            }
        }
        return points;
    }

    /// <summary>The text of an OTLP severity number (1–24), or the sender's text when it has no number.</summary>
    public static string SeverityName(int number, string? text) => number switch
    {
        >= 1 and <= 4 => "Trace",
        >= 5 and <= 8 => "Debug",
        >= 9 and <= 12 => "Information",
        >= 13 and <= 16 => "Warning",
        >= 17 and <= 20 => "Error",
        >= 21 and <= 24 => "Critical",
        _ => string.IsNullOrEmpty(text) ? "Unspecified" : text,
    };

    private static MetricPoint Number(NumberDataPoint point) =>
        new(Time(point.TimeUnixNano), point.ValueCase == NumberDataPoint.ValueOneofCase.AsInt ? point.AsInt : point.AsDouble, 0, null, null);

    private static MetricSeriesKey Key(string service, string? instance, string name, IEnumerable<KeyValue> attributes) =>
        new(service, instance ?? "", name, string.Join(',', attributes.Select(a => $"{a.Key}={Render(a.Value)}").Order(StringComparer.Ordinal)));

    private static (string Service, string? Instance) Identify(Resource? resource)
    {
        string? service = null, instance = null;
        if (resource is not null)
        {
            foreach (var attribute in resource.Attributes)
            {
                if (attribute.Key == ServiceName)
                {
                    service = Render(attribute.Value);
                }
                else if (attribute.Key == ServiceInstance)
                {
                    instance = Render(attribute.Value);
                }
            }
        }
        return (string.IsNullOrEmpty(service) ? UnknownService : service, string.IsNullOrEmpty(instance) ? null : instance);
    }

    private static TelemetryAttribute[] Attributes(IEnumerable<KeyValue> attributes) =>
        [.. attributes.Select(a => new TelemetryAttribute(a.Key, Render(a.Value)))];

    private static string? Id(ByteString bytes, int length) =>
        bytes.Length == length && bytes.Span.ContainsAnyExcept((byte)0) ? Convert.ToHexStringLower(bytes.Span) : null;

    private static DateTimeOffset Time(ulong unixNanos) =>
        DateTimeOffset.UnixEpoch.AddTicks((long)Math.Min(unixNanos / 100, (ulong)(DateTimeOffset.MaxValue - DateTimeOffset.UnixEpoch).Ticks));

    /// <summary>An attribute value as text: scalars as themselves, arrays and maps as JSON, bytes as base64.</summary>
    internal static string Render(AnyValue? value) => value?.ValueCase switch
    {
        AnyValue.ValueOneofCase.StringValue => value.StringValue,
        AnyValue.ValueOneofCase.BoolValue => value.BoolValue ? "true" : "false",
        AnyValue.ValueOneofCase.IntValue => value.IntValue.ToString(CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.DoubleValue => value.DoubleValue.ToString("R", CultureInfo.InvariantCulture),
        AnyValue.ValueOneofCase.BytesValue => Convert.ToBase64String(value.BytesValue.Span),
        AnyValue.ValueOneofCase.ArrayValue or AnyValue.ValueOneofCase.KvlistValue => Json(value),
        _ => "",
    };

    private static string Json(AnyValue value)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, value);
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void Write(Utf8JsonWriter writer, AnyValue value)
    {
        switch (value.ValueCase)
        {
            case AnyValue.ValueOneofCase.StringValue: writer.WriteStringValue(value.StringValue); break;
            case AnyValue.ValueOneofCase.BoolValue: writer.WriteBooleanValue(value.BoolValue); break;
            case AnyValue.ValueOneofCase.IntValue: writer.WriteNumberValue(value.IntValue); break;
            case AnyValue.ValueOneofCase.DoubleValue when double.IsFinite(value.DoubleValue): writer.WriteNumberValue(value.DoubleValue); break;
            case AnyValue.ValueOneofCase.DoubleValue: writer.WriteStringValue(value.DoubleValue.ToString(CultureInfo.InvariantCulture)); break;
            case AnyValue.ValueOneofCase.BytesValue: writer.WriteBase64StringValue(value.BytesValue.Span); break;
            case AnyValue.ValueOneofCase.ArrayValue:
                writer.WriteStartArray();
                foreach (var item in value.ArrayValue.Values)
                {
                    Write(writer, item);
                }
                writer.WriteEndArray();
                break;
            case AnyValue.ValueOneofCase.KvlistValue:
                writer.WriteStartObject();
                foreach (var pair in value.KvlistValue.Values)
                {
                    writer.WritePropertyName(pair.Key);
                    Write(writer, pair.Value ?? new AnyValue());
                }
                writer.WriteEndObject();
                break;
            default: writer.WriteNullValue(); break;
        }
    }
}
