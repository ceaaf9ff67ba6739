using SynthVlm.Testing;

namespace SynthVlm.Dashboard.Telemetry.Tests;

public sealed class TelemetryStoreTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);

    private static SpanRecord Span(string trace, string id, string? parent, double startSeconds, double endSeconds, string service = "svc", string? run = null) =>
        new(trace, id, parent, "span " + id, "internal", service, null, T0.AddSeconds(startSeconds), T0.AddSeconds(endSeconds),
            SpanStatus.Unset, null, run is null ? [] : [new TelemetryAttribute(TelemetryStore.RunAttribute, run)], [], []);

    [Fact]
    public void Waterfall_is_depth_first_with_children_by_start_and_orphans_marked()
    {
        var store = new TelemetryStore();
        // Arrival order differs from start order, and one span's parent never arrives.
        store.AddSpans([Span("t", "c2", "r", 5, 6), Span("t", "g1", "c1", 2, 3), Span("t", "r", null, 0, 10, run: "run-1"), Span("t", "c1", "r", 1, 4), Span("t", "o", "missing", 7, 8)]);

        var trace = store.GetTrace("t")!;
        trace.Spans.Select(s => (s.Span.SpanId, s.Depth, s.ParentMissing)).Should().Equal(
            ("r", 0, false), ("c1", 1, false), ("g1", 2, false), ("c2", 1, false), ("o", 0, true));
        trace.Summary.RootName.Should().Be("span r");
        trace.Summary.Duration.Should().Be(TimeSpan.FromSeconds(10));
        trace.Summary.SpanCount.Should().Be(5);
        trace.Summary.Run.Should().Be("run-1");
        store.GetTrace("nope").Should().BeNull();
    }

    [Fact]
    public void Bounds_evict_the_oldest_traces_logs_and_points_and_count_spans_over_the_per_trace_cap()
    {
        var store = new TelemetryStore(new TelemetryStoreOptions { MaxTraces = 2, MaxSpansPerTrace = 2, MaxSpans = 100, MaxLogs = 3, MaxPointsPerSeries = 2, MaxSeries = 1 });
        store.AddSpans([Span("a", "1", null, 0, 1), Span("a", "2", "1", 0, 1), Span("a", "3", "1", 0, 1)]);
        store.AddSpans([Span("b", "1", null, 1, 2)]);
        store.GetTrace("a")!.Summary.DroppedSpans.Should().Be(1);
        store.AddSpans([Span("c", "1", null, 2, 3)]);
        store.GetTrace("a").Should().BeNull();
        store.ListTraces().Select(t => t.TraceId).Should().Equal("c", "b");

        store.AddLogs(Enumerable.Range(0, 5).Select(i => new StructuredLog(0, T0, "Information", 9, $"m{i}", "svc", null, null, null, null, [])));
        store.QueryLogs(new LogQuery()).Select(l => (l.Message, l.Sequence)).Should().Equal(("m2", 3L), ("m3", 4L), ("m4", 5L));
        store.QueryLogs(new LogQuery(Limit: 1)).Single().Message.Should().Be("m4");

        var key = new MetricSeriesKey("svc", "svc-0", "m", "");
        for (var i = 0; i < 4; i++)
        {
            store.AddMetric(key, "1", "", MetricKind.Sum, true, true, new MetricPoint(T0.AddSeconds(i), i, 0, null, null));
        }
        store.AddMetric(key with { Name = "other" }, "1", "", MetricKind.Gauge, false, false, new MetricPoint(T0, 1, 0, null, null));
        var series = store.ListMetrics().Should().ContainSingle().Subject;
        series.Points.Select(p => p.Value).Should().Equal(2, 3);
        store.Dropped.Should().BeGreaterThan(0);
    }

    [Fact]
    public void The_span_bound_across_traces_evicts_whole_traces_oldest_first()
    {
        var store = new TelemetryStore(new TelemetryStoreOptions { MaxSpans = 3 });
        store.AddSpans([Span("a", "1", null, 0, 1), Span("a", "2", "1", 0, 1)]);
        store.AddSpans([Span("b", "1", null, 1, 2)]);
        store.ListTraces().Should().HaveCount(2);

        store.AddSpans([Span("c", "1", null, 2, 3), Span("c", "2", "1", 2, 3)]);

        store.ListTraces().Select(t => t.TraceId).Should().Equal("c", "b");
        store.Dropped.Should().Be(2);
    }

    [Fact]
    public async Task WaitForChange_completes_on_an_add_and_honours_cancellation()
    {
        var store = new TelemetryStore();
        var seen = store.Version;
        var waiting = store.WaitForChangeAsync(seen, CancellationToken.None);
        waiting.IsCompleted.Should().BeFalse();
        store.AddLogs([new StructuredLog(0, T0, "Information", 9, "hello", "svc", null, null, null, null, [])]);
        await waiting.WithTimeout();
        store.WaitForChangeAsync(seen, CancellationToken.None).IsCompleted.Should().BeTrue();

        using var cancel = new CancellationTokenSource();
        var pending = store.WaitForChangeAsync(store.Version, cancel.Token);
        await cancel.CancelAsync();
        await FluentActions.Awaiting(() => pending).Should().ThrowAsync<OperationCanceledException>();
    }

    [Fact]
    public void Severity_numbers_map_to_the_dotnet_level_names()
    {
        OtlpDecoder.SeverityName(1, null).Should().Be("Trace");
        OtlpDecoder.SeverityName(9, null).Should().Be("Information");
        OtlpDecoder.SeverityName(13, null).Should().Be("Warning");
        OtlpDecoder.SeverityName(17, null).Should().Be("Error");
        OtlpDecoder.SeverityName(21, null).Should().Be("Critical");
        OtlpDecoder.SeverityName(0, "NOTICE").Should().Be("NOTICE");
    }
}
