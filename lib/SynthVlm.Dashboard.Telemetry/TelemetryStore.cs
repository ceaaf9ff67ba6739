namespace SynthVlm.Dashboard.Telemetry;

/// <summary>
/// The dashboard's in-memory telemetry: spans grouped by trace, structured logs and metric
/// series, each bounded by <see cref="TelemetryStoreOptions"/> (oldest first out). Thread-safe;
/// readers get copies.
/// </summary>
public sealed class TelemetryStore
{
    /// <summary>The span attribute that names a SynthVlm run.</summary>
    public const string RunAttribute = "synthvlm.run";

    private readonly TelemetryStoreOptions _options;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, TraceBucket> _traces = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _traceOrder = new();
    private readonly LinkedList<StructuredLog> _logs = new();
    private readonly Dictionary<MetricSeriesKey, SeriesBucket> _series = [];
    private readonly SortedSet<string> _services = new(StringComparer.Ordinal);
    private long _spanCount;
    private long _logSequence;
    private long _version;
    private TaskCompletionSource _changed = NewSignal();

    /// <summary>Creates an empty store.</summary>
    public TelemetryStore(TelemetryStoreOptions? options = null)
    {
        _options = options ?? new TelemetryStoreOptions();
        if (_options.MaxTraces < 1 || _options.MaxSpansPerTrace < 1 || _options.MaxSpans < 1 || _options.MaxLogs < 1 || _options.MaxSeries < 1 || _options.MaxPointsPerSeries < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "every TelemetryStoreOptions bound must be at least 1.");
        }
    }

    /// <summary>Increases on every add.</summary>
    public long Version => Interlocked.Read(ref _version);

    /// <summary>Spans, metric points and log records dropped by the bounds so far.</summary>
    public long Dropped { get; private set; }

    /// <summary>Every service seen in spans, logs or metrics, sorted.</summary>
    public IReadOnlyList<string> Services
    {
        get
        {
            lock (_lock)
            {
                return [.. _services];
            }
        }
    }

    /// <summary>Adds spans (of any traces, in any order).</summary>
    public void AddSpans(IEnumerable<SpanRecord> spans)
    {
        ArgumentNullException.ThrowIfNull(spans);
        lock (_lock)
        {
            foreach (var span in spans)
            {
                if (!_traces.TryGetValue(span.TraceId, out var trace))
                {
                    trace = new TraceBucket(_traceOrder.AddLast(span.TraceId));
                    _traces.Add(span.TraceId, trace);
                }
                _services.Add(span.Service);
                if (trace.Spans.Count >= _options.MaxSpansPerTrace)
                {
                    trace.Dropped++;
                    Dropped++;
                    continue;
                }
                trace.Spans.Add(span);
                trace.Run ??= span.Attribute(RunAttribute);
                _spanCount++;
            }
            while (_traces.Count > _options.MaxTraces || _spanCount > _options.MaxSpans)
            {
                var oldest = _traceOrder.First!;
                var evicted = _traces[oldest.Value];
                _spanCount -= evicted.Spans.Count;
                Dropped += evicted.Spans.Count;
                _traces.Remove(oldest.Value);
                _traceOrder.RemoveFirst();
            }
            Changed();
        }
    }

    /// <summary>Adds log records; their sequence numbers are assigned here, increasing.</summary>
    public void AddLogs(IEnumerable<StructuredLog> logs)
    {
        ArgumentNullException.ThrowIfNull(logs);
        lock (_lock)
        {
            foreach (var log in logs)
            {
                _services.Add(log.Service);
                _logs.AddLast(log with { Sequence = ++_logSequence });
                if (_logs.Count > _options.MaxLogs)
                {
                    _logs.RemoveFirst();
                    Dropped++;
                }
            }
            Changed();
        }
    }

    /// <summary>Adds one point to the series <paramref name="key"/>.</summary>
    public void AddMetric(MetricSeriesKey key, string unit, string description, MetricKind kind, bool monotonic, bool cumulative, MetricPoint point)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(point);
        lock (_lock)
        {
            if (!_series.TryGetValue(key, out var series))
            {
                if (_series.Count >= _options.MaxSeries)
                {
                    Dropped++;
                    return;
                }
                series = new SeriesBucket(unit, description, kind, monotonic, cumulative);
                _series.Add(key, series);
                _services.Add(key.Service);
            }
            series.Points.AddLast(point);
            if (series.Points.Count > _options.MaxPointsPerSeries)
            {
                series.Points.RemoveFirst();
            }
            Changed();
        }
    }

    /// <summary>Traces, newest first, optionally of one service, one run, or whose span names contain <paramref name="search"/>.</summary>
    public IReadOnlyList<TraceSummary> ListTraces(string? service = null, string? run = null, string? search = null, int limit = 100)
    {
        var result = new List<TraceSummary>();
        lock (_lock)
        {
            for (var node = _traceOrder.Last; node is not null; node = node.Previous)
            {
                var trace = _traces[node.Value];
                if (trace.Spans.Count == 0
                    || (run is not null && trace.Run != run)
                    || (service is not null && !trace.Spans.Exists(s => s.Service == service))
                    || (search is not null && !trace.Spans.Exists(s => s.Name.Contains(search, StringComparison.OrdinalIgnoreCase))))
                {
                    continue;
                }
                result.Add(Summarize(node.Value, trace));
            }
        }
        result.Sort((a, b) => b.Start.CompareTo(a.Start));
        return result.Count > limit ? result[..Math.Max(0, limit)] : result;
    }

    /// <summary>The trace with its spans in waterfall order, or null.</summary>
    public TraceDetail? GetTrace(string traceId)
    {
        List<SpanRecord> spans;
        TraceSummary summary;
        lock (_lock)
        {
            if (!_traces.TryGetValue(traceId, out var trace) || trace.Spans.Count == 0)
            {
                return null;
            }
            spans = [.. trace.Spans];
            summary = Summarize(traceId, trace);
        }
        var ids = new HashSet<string>(spans.Select(s => s.SpanId), StringComparer.Ordinal);
        var children = spans.Where(s => s.ParentSpanId is not null && ids.Contains(s.ParentSpanId))
            .GroupBy(s => s.ParentSpanId!, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderBy(s => s.Start).ToList(), StringComparer.Ordinal);
        var ordered = new List<WaterfallSpan>(spans.Count);
        var stack = new Stack<(SpanRecord Span, int Depth, bool Missing)>();
        foreach (var root in spans.Where(s => s.ParentSpanId is null || !ids.Contains(s.ParentSpanId)).OrderByDescending(s => s.Start))
        {
            stack.Push((root, 0, root.ParentSpanId is not null));
        }
        while (stack.Count > 0)
        {
            var (span, depth, missing) = stack.Pop();
            ordered.Add(new WaterfallSpan(span, depth, missing));
            if (children.TryGetValue(span.SpanId, out var kids))
            {
                for (var i = kids.Count - 1; i >= 0; i--)
                {
                    stack.Push((kids[i], depth + 1, false));
                }
            }
        }
        return new TraceDetail(summary, ordered);
    }

    /// <summary>Log records after <see cref="LogQuery.AfterSequence"/> matching the query, oldest first.</summary>
    public IReadOnlyList<StructuredLog> QueryLogs(LogQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var result = new List<StructuredLog>();
        lock (_lock)
        {
            foreach (var log in _logs)
            {
                if (log.Sequence <= query.AfterSequence
                    || (query.Service is not null && log.Service != query.Service)
                    || log.SeverityNumber < query.MinSeverityNumber
                    || (query.TraceId is not null && log.TraceId != query.TraceId)
                    || (query.Text is not null && !log.Message.Contains(query.Text, StringComparison.OrdinalIgnoreCase)))
                {
                    continue;
                }
                result.Add(log);
            }
        }
        // The newest that fit: a live view asks again with the last sequence it saw.
        return result.Count > query.Limit ? result[^Math.Max(0, query.Limit)..] : result;
    }

    /// <summary>Metric series, optionally of one service and with names starting with <paramref name="namePrefix"/>.</summary>
    public IReadOnlyList<MetricSeries> ListMetrics(string? service = null, string? namePrefix = null)
    {
        lock (_lock)
        {
            return [.. _series
                .Where(p => (service is null || p.Key.Service == service) && (namePrefix is null || p.Key.Name.StartsWith(namePrefix, StringComparison.Ordinal)))
                .OrderBy(p => p.Key.Name, StringComparer.Ordinal).ThenBy(p => p.Key.Service, StringComparer.Ordinal)
                .ThenBy(p => p.Key.Instance, StringComparer.Ordinal).ThenBy(p => p.Key.Attributes, StringComparer.Ordinal)
                .Select(p => new MetricSeries(p.Key, p.Value.Unit, p.Value.Description, p.Value.Kind, p.Value.Monotonic, p.Value.Cumulative, [.. p.Value.Points]))];
        }
    }

    /// <summary>Completes when <see cref="Version"/> exceeds <paramref name="seenVersion"/>.</summary>
    public Task WaitForChangeAsync(long seenVersion, CancellationToken cancellationToken)
    {
        Task changed;
        lock (_lock)
        {
            if (_version > seenVersion)
            {
                return Task.CompletedTask;
            }
            changed = _changed.Task;
        }
        return changed.WaitAsync(cancellationToken);
    }

    private void Changed()
    {
        Interlocked.Increment(ref _version);
        var signal = _changed;
        _changed = NewSignal();
        signal.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static TraceSummary Summarize(string traceId, TraceBucket trace)
    {
        var spans = trace.Spans;
        var ids = new HashSet<string>(spans.Select(s => s.SpanId), StringComparer.Ordinal);
        var root = spans.Where(s => s.ParentSpanId is null).MinBy(s => s.Start)
            ?? spans.Where(s => !ids.Contains(s.ParentSpanId!)).MinBy(s => s.Start)
            ?? spans.MinBy(s => s.Start)!;
        var start = spans.Min(s => s.Start);
        var end = spans.Max(s => s.End);
        return new TraceSummary(
            traceId, root.Name, root.Service, start, end - start, spans.Count,
            spans.Count(s => s.Status == SpanStatus.Error),
            [.. spans.Select(s => s.Service).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
            trace.Run, trace.Dropped);
    }

    private sealed class TraceBucket(LinkedListNode<string> order)
    {
        public LinkedListNode<string> Order { get; } = order;

        public List<SpanRecord> Spans { get; } = [];

        public string? Run { get; set; }

        public int Dropped { get; set; }
    }

    private sealed class SeriesBucket(string unit, string description, MetricKind kind, bool monotonic, bool cumulative)
    {
        public string Unit { get; } = unit;

        public string Description { get; } = description;

        public MetricKind Kind { get; } = kind;

        public bool Monotonic { get; } = monotonic;

        public bool Cumulative { get; } = cumulative;

        public LinkedList<MetricPoint> Points { get; } = new();
    }
}
