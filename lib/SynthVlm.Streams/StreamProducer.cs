using System.Collections.Concurrent;
using System.Diagnostics;
using StackExchange.Redis;

namespace SynthVlm.Streams;

/// <summary>Options of <see cref="StreamProducer"/>.</summary>
public sealed record StreamProducerOptions
{
    /// <summary>Approximate cap on stream length (<c>XADD MAXLEN ~ N</c>); 0 (default) never trims.</summary>
    public long MaxLength { get; set; }

    /// <summary>
    /// Backpressure bound per stream: the largest unacknowledged backlog (pending + lag) of any
    /// watched consumer group, i.e. the MAXIMUM over groups, not the sum, since each group is an
    /// independent stage. 0 (default) disables backpressure. A stream with no (watched) group has
    /// no backlog, so nothing waits.
    /// </summary>
    public long MaxBacklog { get; set; }

    /// <summary>The groups whose backlog is bounded; null or empty watches every group on the stream.</summary>
    public IReadOnlyCollection<string>? BacklogGroups { get; set; }

    /// <summary>
    /// The share of the measured headroom (<c>MaxBacklog − backlog</c>) this producer may spend
    /// before measuring again (default 0.5). The bound holds exactly for a single producer; with P
    /// producer instances on one stream it holds while P ≤ 1 / <see cref="HeadroomShare"/>, and the
    /// worst-case overshoot otherwise is (P·share − 1)·headroom.
    /// </summary>
    public double HeadroomShare { get; set; } = 0.5;

    /// <summary>First poll delay while the backlog is above the bound; doubles up to <see cref="BackpressureMaxDelay"/>.</summary>
    public TimeSpan BackpressureInitialDelay { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Longest poll delay while waiting for the backlog to drain.</summary>
    public TimeSpan BackpressureMaxDelay { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// Appends work items to streams (XADD) with the producer's trace context, optional trimming and
/// backpressure against the consuming groups' backlog.
/// </summary>
public sealed class StreamProducer
{
    private readonly IDatabaseAsync _db;
    private readonly StreamProducerOptions _options;
    private readonly ConcurrentDictionary<string, Budget> _budgets = new(StringComparer.Ordinal);

    /// <summary>Creates a producer over a (shared) database.</summary>
    public StreamProducer(IDatabaseAsync db, StreamProducerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(db);
        _db = db;
        _options = options ?? new StreamProducerOptions();
        if (_options.HeadroomShare is <= 0 or > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), _options.HeadroomShare, "StreamProducerOptions.HeadroomShare must be in (0, 1].");
        }
    }

    /// <summary>
    /// XADDs <c>run</c>, <c>kind</c>, <c>data</c> and <c>traceparent</c> to <paramref name="stream"/>, first
    /// waiting (cancellably) while the backlog is at <see cref="StreamProducerOptions.MaxBacklog"/>.
    /// </summary>
    /// <returns>The new entry's id.</returns>
    public async Task<string> ProduceAsync(string stream, string run, string kind, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(stream);
        Budget? budget = null;
        if (_options.MaxBacklog > 0)
        {
            budget = _budgets.GetOrAdd(stream, static _ => new Budget());
            await AcquireAsync(stream, budget, cancellationToken).ConfigureAwait(false);
        }
        try
        {
            using var activity = StreamTelemetry.ActivitySource.StartActivity($"send {stream}", ActivityKind.Producer);
            if (activity is not null)
            {
                activity.SetTag(StreamTelemetry.MessagingSystemTag, StreamTelemetry.MessagingSystem);
                activity.SetTag(StreamTelemetry.DestinationTag, stream);
                activity.SetTag(StreamTelemetry.RunTag, run);
                activity.SetTag(StreamTelemetry.KindTag, kind);
            }
            var traceParent = (activity ?? Activity.Current) is { IdFormat: ActivityIdFormat.W3C } a ? a.Id : null;
            RedisValue id;
            try
            {
                id = await XAddAsync(stream, run, kind, data, traceParent, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
                throw;
            }
            var entryId = id.ToString();
            activity?.SetTag(StreamTelemetry.MessageIdTag, entryId);
            return entryId;
        }
        finally
        {
            budget?.Release();
        }
    }

    private Task<RedisValue> XAddAsync(string stream, string run, string kind, ReadOnlyMemory<byte> data, string? traceParent, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        NameValueEntry[] fields = traceParent is null
            ? [new(KnownStreamFields.Run, run), new(KnownStreamFields.Kind, kind), new(KnownStreamFields.Data, data)]
            : [new(KnownStreamFields.Run, run), new(KnownStreamFields.Kind, kind), new(KnownStreamFields.Data, data), new(KnownStreamFields.TraceParent, traceParent)];
        // Not abandoned on cancellation: an XADD in flight may already be applied.
        return _options.MaxLength > 0
            ? _db.StreamAddAsync(stream, fields, messageId: null, maxLength: _options.MaxLength, useApproximateMaxLength: true)
            : _db.StreamAddAsync(stream, fields);
    }

    private async Task AcquireAsync(string stream, Budget budget, CancellationToken cancellationToken)
    {
        var delay = _options.BackpressureInitialDelay;
        while (true)
        {
            if (budget.TryTake())
            {
                return;
            }
            // One caller measures; the others wait for its result instead of issuing their own XINFO.
            var refresh = budget.GetOrStartRefresh(() => MeasureAsync(stream, budget, CancellationToken.None));
            var granted = await refresh.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (granted > 0)
            {
                delay = _options.BackpressureInitialDelay;
                continue;
            }
            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.BackpressureMaxDelay.Ticks));
        }
    }

    private async Task<long> MeasureAsync(string stream, Budget budget, CancellationToken cancellationToken)
    {
        // XADDs that took credit but have not been answered may or may not be in this XINFO:
        // count them as not yet seen, which can only under-grant.
        var unconfirmed = budget.InFlight;
        var groups = await StreamQueueInspector.ReadGroupsAsync(_db, stream, cancellationToken).ConfigureAwait(false);
        long backlog = 0;
        long? length = null;
        foreach (var g in groups)
        {
            if (_options.BacklogGroups is { Count: > 0 } watched && !watched.Contains(g.Name))
            {
                continue;
            }
            var lag = g.Lag;
            if (lag is null)
            {
                // Redis cannot compute lag after some deletions; XLEN bounds the undelivered count.
                length ??= await _db.StreamLengthAsync(stream).ConfigureAwait(false);
                lag = length;
            }
            backlog = Math.Max(backlog, g.Pending + lag.Value);
        }
        var headroom = _options.MaxBacklog - backlog - unconfirmed;
        var credit = headroom <= 0 ? 0 : Math.Max(1, (long)(headroom * _options.HeadroomShare));
        budget.Grant(credit);
        return credit;
    }

    /// <summary>Credit this producer may spend on one stream before measuring its backlog again.</summary>
    private sealed class Budget
    {
        private readonly Lock _gate = new();
        private long _credit;
        private long _inFlight;
        private Task<long>? _refresh;

        public long InFlight => Interlocked.Read(ref _inFlight);

        public bool TryTake()
        {
            lock (_gate)
            {
                if (_credit <= 0)
                {
                    return false;
                }
                _credit--;
                Interlocked.Increment(ref _inFlight);
                return true;
            }
        }

        public void Release() => Interlocked.Decrement(ref _inFlight);

        public void Grant(long credit)
        {
            lock (_gate)
            {
                _credit = credit;
            }
        }

        public Task<long> GetOrStartRefresh(Func<Task<long>> measure)
        {
            lock (_gate)
            {
                if (_refresh is null || _refresh.IsCompleted)
                {
                    _refresh = measure();
                }
                return _refresh;
            }
        }
    }
}
