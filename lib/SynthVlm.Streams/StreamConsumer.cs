using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace SynthVlm.Streams;

/// <summary>Options of <see cref="StreamConsumer"/>.</summary>
public sealed record StreamConsumerOptions
{
    /// <summary>The stream to consume (one of <see cref="KnownStreams"/>).</summary>
    public string Stream { get; set; } = "";

    /// <summary>The consumer group (one per stage).</summary>
    public string Group { get; set; } = "";

    /// <summary>This replica's consumer name; unique per replica (defaults to host-pid).</summary>
    public string Consumer { get; set; } = $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>Entries per XREADGROUP / XAUTOCLAIM (COUNT).</summary>
    public int BatchSize { get; set; } = 16;

    /// <summary>
    /// How long one XREADGROUP BLOCK waits for new entries on the consumer's dedicated connection
    /// (an idle consumer costs one round trip per this interval; a new entry ends the wait at once).
    /// </summary>
    public TimeSpan BlockTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Entries pending (unacknowledged) longer than this are taken over with XAUTOCLAIM.</summary>
    public TimeSpan ClaimIdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often to scan for idle pending entries (a scan runs at start-up too).</summary>
    public TimeSpan ClaimInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Deliveries after which a failing entry is dead-lettered.</summary>
    public int MaxDeliveries { get; set; } = 5;

    /// <summary>Where dead letters go.</summary>
    public string DeadLetterStream { get; set; } = KnownStreams.Dead;

    /// <summary>After stop is requested, how long the in-flight handler may run before its token is cancelled.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Where <see cref="StreamConsumer.EnsureGroupAsync"/> starts a new group: "0" (whole stream, default) or "$" (only new entries).</summary>
    public string StartId { get; set; } = "0";

    /// <summary>Longest pause between retries after Redis errors in the read loop.</summary>
    public TimeSpan MaxErrorBackoff { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Entries of one read handled at the same time (1 = one after another). Handlers that
    /// micro-batch (several entries per model call) need this above 1 to see a batch at all.
    /// </summary>
    public int MaxConcurrency { get; set; } = 1;
}

/// <summary>
/// A consumer-group worker: reads new entries with XREADGROUP BLOCK on its own dedicated
/// multiplexer (StackExchange.Redis has no blocking read, and a blocking command must never run
/// on the shared multiplexer, so it is sent raw on a private one that nothing else uses), reclaims entries idle past <see cref="StreamConsumerOptions.ClaimIdleTimeout"/>,
/// calls the handler per entry, acknowledges only after the handler returns (at-least-once), keeps
/// failed entries pending for redelivery, and dead-letters entries that fail
/// <see cref="StreamConsumerOptions.MaxDeliveries"/> times. Failure reasons live in a Redis hash
/// (<see cref="FailureHashKey"/>), so a dead letter names the real last error even when another
/// replica gives up on the entry.
/// </summary>
public sealed partial class StreamConsumer
{
    private readonly IConnectionMultiplexer _redis;
    private readonly IDatabaseAsync _db;
    private readonly StreamConsumerOptions _options;
    private readonly ILogger _logger;
    private readonly KeyValuePair<string, object?>[] _metricTags;

    /// <summary>Creates a consumer; <paramref name="redis"/> is shared (acks, claims), the blocking reads open their own multiplexer to the same server.</summary>
    public StreamConsumer(IConnectionMultiplexer redis, StreamConsumerOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(redis);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Stream, "options.Stream");
        ArgumentException.ThrowIfNullOrEmpty(options.Group, "options.Group");
        ArgumentException.ThrowIfNullOrEmpty(options.Consumer, "options.Consumer");
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1, "options.BatchSize");
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxDeliveries, 1, "options.MaxDeliveries");
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxConcurrency, 1, "options.MaxConcurrency");
        _redis = redis;
        _db = redis.GetDatabase();
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _metricTags = [new(StreamTelemetry.StreamTag, options.Stream), new(StreamTelemetry.GroupTag, options.Group)];
        FailureHashKey = $"{options.Stream}:{options.Group}:failures";
    }

    /// <summary>Counters of this consumer.</summary>
    public StreamConsumerStats Stats { get; } = new();

    /// <summary>
    /// Called after an entry is written to the dead-letter stream and before it is acknowledged,
    /// with the reason, so the application can record the item as failed (for example in a run's
    /// progress). If it throws, the entry stays pending and is dead-lettered again later.
    /// </summary>
    public Func<StreamEntry, string, Task>? DeadLettered { get; set; }

    /// <summary>The hash (entry id → last failure message) kept while an entry is being retried.</summary>
    public string FailureHashKey { get; }

    /// <summary>Creates the group (XGROUP CREATE … MKSTREAM); an existing group is fine.</summary>
    public async Task EnsureGroupAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await _db.StreamCreateConsumerGroupAsync(_options.Stream, _options.Group, _options.StartId, createStream: true).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (RedisConnections.IsServerError(ex, "BUSYGROUP"))
        {
            // Another replica created it first.
        }
    }

    /// <summary>
    /// Consumes until <paramref name="stoppingToken"/> fires, then drains: no new reads, the in-flight
    /// handler may finish (its token is cancelled after <see cref="StreamConsumerOptions.DrainTimeout"/>),
    /// what finished is acknowledged, and the method returns. Unstarted entries of the batch stay
    /// pending and are reclaimed by another replica.
    /// </summary>
    public async Task RunAsync(Func<StreamEntry, CancellationToken, Task> handler, CancellationToken stoppingToken)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (stoppingToken.IsCancellationRequested)
        {
            return;
        }
        // Connects in the background (abortConnect=false): reads fail and are retried until it is up.
        var blocking = await RedisConnections.OpenDedicatedAsync(
            _redis, $"{_options.Consumer}:{_options.Stream}:read", _options.BlockTimeout + TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        await using var blockingScope = blocking.ConfigureAwait(false);
        using var handlerCts = new CancellationTokenSource();
        var nextClaim = 0L;
        var cursor = "0-0";
        var errors = 0;
        Log.Started(_logger, _options.Consumer, _options.Stream, _options.Group);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                List<StreamEntry>? batch = null;
                if (Stopwatch.GetTimestamp() >= nextClaim)
                {
                    (batch, cursor) = await ClaimAsync(cursor, stoppingToken).ConfigureAwait(false);
                    // Keep scanning while the cursor says there is more; otherwise wait an interval.
                    nextClaim = cursor == "0-0" ? Stopwatch.GetTimestamp() + (long)(_options.ClaimInterval.TotalSeconds * Stopwatch.Frequency) : 0;
                }
                if (batch is null || batch.Count == 0)
                {
                    batch = await ReadNewAsync(blocking, stoppingToken).ConfigureAwait(false);
                }
                var acks = new List<Task>(batch.Count);
                try
                {
                    if (_options.MaxConcurrency == 1)
                    {
                        foreach (var entry in batch)
                        {
                            if (stoppingToken.IsCancellationRequested)
                            {
                                break;
                            }
                            if (await ProcessAsync(entry, handler, handlerCts, stoppingToken).ConfigureAwait(false) is { } ack)
                            {
                                acks.Add(ack);
                            }
                        }
                    }
                    else
                    {
                        await ProcessConcurrentlyAsync(batch, handler, handlerCts, acks, stoppingToken).ConfigureAwait(false);
                    }
                }
                finally
                {
                    // Acks are pipelined behind the next handler instead of costing a round trip each;
                    // every one is awaited before the next read, and before returning on stop.
                    await Task.WhenAll(acks).ConfigureAwait(false);
                }
                errors = 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (RedisServerException ex) when (RedisConnections.IsServerError(ex, "NOGROUP"))
            {
                // The stream or group vanished (e.g. Redis lost its data): recreate and go on.
                Log.GroupMissing(_logger, _options.Stream, _options.Group);
                await EnsureGroupAsync(stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            catch (Exception ex) when (RedisConnections.IsRedisFailure(ex))
            {
                errors++;
                Log.LoopError(_logger, _options.Stream, _options.Group, ex.Message);
                var pause = TimeSpan.FromMilliseconds(Math.Min(_options.MaxErrorBackoff.TotalMilliseconds, 50 * Math.Pow(2, Math.Min(errors, 10))));
                await Task.Delay(pause, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
        Log.Stopped(_logger, _options.Consumer, _options.Stream, Stats.ToString());
    }

    private async Task<List<StreamEntry>> ReadNewAsync(ConnectionMultiplexer blocking, CancellationToken stoppingToken)
    {
        // The server answers when an entry arrives or after BLOCK ms; the client cannot cancel the
        // command, so on stop the read is abandoned (and its multiplexer closed by the caller).
        var read = blocking.GetDatabase().ExecuteAsync("XREADGROUP",
            "GROUP", _options.Group, _options.Consumer,
            "COUNT", _options.BatchSize,
            "BLOCK", (long)_options.BlockTimeout.TotalMilliseconds,
            "STREAMS", _options.Stream, ">");
        StackExchange.Redis.RedisResult reply;
        try
        {
            reply = await read.WaitAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            _ = read.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw;
        }
        var batch = new List<StreamEntry>();
        if (reply.IsNull || reply.Length == 0)
        {
            return batch;
        }
        // RESP3: {stream: entries}; RESP2: [[stream, entries]]. One stream was asked for.
        var entries = reply.Resp3Type == ResultType.Map ? reply[1] : reply[0][1];
        for (var i = 0; i < entries.Length; i++)
        {
            if (StreamEntry.FromRaw(_options.Stream, entries[i], deliveryCount: 1) is { } entry)
            {
                batch.Add(entry);
            }
        }
        return batch;
    }

    private async Task<(List<StreamEntry> Batch, string Cursor)> ClaimAsync(string cursor, CancellationToken cancellationToken)
    {
        var reply = await _db.StreamAutoClaimAsync(_options.Stream, _options.Group, _options.Consumer,
            (long)_options.ClaimIdleTimeout.TotalMilliseconds, cursor, _options.BatchSize).WaitAsync(cancellationToken).ConfigureAwait(false);
        var next = reply.NextStartId.IsNullOrEmpty ? "0-0" : reply.NextStartId.ToString();
        var claimed = reply.ClaimedEntries ?? [];
        if (reply.DeletedIds is { Length: > 0 } deleted)
        {
            // Deleted while pending: Redis already dropped them from the PEL; forget their failures.
            await _db.HashDeleteAsync(FailureHashKey, deleted).ConfigureAwait(false);
            Log.DeletedWhilePending(_logger, deleted.Length, _options.Stream, _options.Group);
        }
        var batch = new List<StreamEntry>(claimed.Length);
        if (claimed.Length == 0)
        {
            return (batch, next);
        }
        // XAUTOCLAIM does not say how often an entry was delivered; XPENDING does (pipelined).
        var counts = new Task<StreamPendingMessageInfo[]>[claimed.Length];
        for (var i = 0; i < claimed.Length; i++)
        {
            var id = claimed[i].Id;
            counts[i] = _db.StreamPendingMessagesAsync(_options.Stream, _options.Group, 1, RedisValue.Null, id, id);
        }
        await Task.WhenAll(counts).ConfigureAwait(false);
        for (var i = 0; i < claimed.Length; i++)
        {
            var pending = counts[i].Result;
            var deliveries = pending.Length > 0 ? pending[0].DeliveryCount : 1;
            if (StreamEntry.From(_options.Stream, claimed[i], deliveries) is { } entry)
            {
                batch.Add(entry);
            }
        }
        Log.Reclaimed(_logger, batch.Count, _options.Stream, _options.Group);
        return (batch, next);
    }

    private async Task ProcessConcurrentlyAsync(List<StreamEntry> batch, Func<StreamEntry, CancellationToken, Task> handler, CancellationTokenSource handlerCts, List<Task> acks, CancellationToken stoppingToken)
    {
        var running = new List<Task<Task?>>(_options.MaxConcurrency);
        try
        {
            foreach (var entry in batch)
            {
                if (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                if (running.Count == _options.MaxConcurrency)
                {
                    var done = await Task.WhenAny(running).ConfigureAwait(false);
                    running.Remove(done);
                    if (await done.ConfigureAwait(false) is { } ack)
                    {
                        acks.Add(ack);
                    }
                }
                running.Add(ProcessAsync(entry, handler, handlerCts, stoppingToken));
            }
        }
        finally
        {
            // ProcessAsync never throws for a handler failure (it records it), so this only waits.
            foreach (var task in running)
            {
                if (await task.ConfigureAwait(false) is { } ack)
                {
                    acks.Add(ack);
                }
            }
        }
    }

    /// <returns>The acknowledgement in flight, or null when the entry is not acknowledged now.</returns>
    private async Task<Task?> ProcessAsync(StreamEntry entry, Func<StreamEntry, CancellationToken, Task> handler, CancellationTokenSource handlerCts, CancellationToken stoppingToken)
    {
        Stats.AddReceived(1);
        StreamTelemetry.Received.Add(1, _metricTags);
        if (entry.DeliveryCount > _options.MaxDeliveries)
        {
            // It never completed within MaxDeliveries attempts (e.g. it kept killing replicas).
            var stored = await _db.HashGetAsync(FailureHashKey, entry.Id).ConfigureAwait(false);
            var reason = stored.IsNull ? $"not completed after {entry.DeliveryCount - 1} deliveries (the consumer stopped or crashed each time)" : stored.ToString();
            await DeadLetterAsync(entry, reason).ConfigureAwait(false);
            return null;
        }

        using var activity = StartConsumerActivity(entry);
        var start = Stopwatch.GetTimestamp();
        try
        {
            var task = handler(entry, handlerCts.Token);
            if (!await WaitHandlerAsync(task, handlerCts, stoppingToken).ConfigureAwait(false))
            {
                // Abandoned on drain: it stays pending for another replica.
                activity?.SetStatus(ActivityStatusCode.Error, "abandoned on shutdown");
                return null;
            }
        }
        catch (OperationCanceledException) when (handlerCts.IsCancellationRequested)
        {
            activity?.SetStatus(ActivityStatusCode.Error, "cancelled on shutdown");
            return null;
        }
        catch (Exception ex)
        {
            StreamTelemetry.HandleDuration.Record(Stopwatch.GetElapsedTime(start).TotalSeconds, _metricTags);
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            activity?.AddException(ex);
            await FailAsync(entry, ex).ConfigureAwait(false);
            return null;
        }
        StreamTelemetry.HandleDuration.Record(Stopwatch.GetElapsedTime(start).TotalSeconds, _metricTags);
        return AckAsync(entry);
    }

    private async Task<bool> WaitHandlerAsync(Task task, CancellationTokenSource handlerCts, CancellationToken stoppingToken)
    {
        try
        {
            await task.WaitAsync(stoppingToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested && !task.IsCompleted)
        {
            // Stop requested mid-handler: drain.
        }
        try
        {
            await task.WaitAsync(_options.DrainTimeout, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            await handlerCts.CancelAsync().ConfigureAwait(false);
        }
        try
        {
            // A short grace to observe the cancellation; a handler that ignores it is abandoned.
            await task.WaitAsync(TimeSpan.FromSeconds(1), CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            Log.HandlerAbandoned(_logger, _options.Stream, _options.Group);
            return false;
        }
    }

    private Activity? StartConsumerActivity(StreamEntry entry)
    {
        var source = StreamTelemetry.ActivitySource;
        if (!source.HasListeners())
        {
            return null;
        }
        // The producer's span is the parent (one run is one trace across services) and also a link.
        var hasParent = ActivityContext.TryParse(entry.TraceParent, null, isRemote: true, out var parent);
        var activity = source.StartActivity(
            $"process {entry.Stream}", ActivityKind.Consumer,
            hasParent ? parent : default,
            links: hasParent ? [new ActivityLink(parent)] : null);
        if (activity is not null)
        {
            activity.SetTag(StreamTelemetry.MessagingSystemTag, StreamTelemetry.MessagingSystem);
            activity.SetTag(StreamTelemetry.DestinationTag, entry.Stream);
            activity.SetTag(StreamTelemetry.ConsumerGroupTag, _options.Group);
            activity.SetTag(StreamTelemetry.MessageIdTag, entry.Id);
            activity.SetTag(StreamTelemetry.RunTag, entry.Run);
            activity.SetTag(StreamTelemetry.KindTag, entry.Kind);
            activity.SetTag(StreamTelemetry.DeliveryCountTag, entry.DeliveryCount);
        }
        return activity;
    }

    private async Task AckAsync(StreamEntry entry)
    {
        // Not cancellable: the effect is durable, so the ack must go out even while stopping.
        var ack = _db.StreamAcknowledgeAsync(_options.Stream, _options.Group, entry.Id);
        if (entry.DeliveryCount > 1)
        {
            // Only a redelivered entry can have a recorded failure.
            await _db.HashDeleteAsync(FailureHashKey, entry.Id).ConfigureAwait(false);
        }
        await ack.ConfigureAwait(false);
        Stats.AddAcked();
        StreamTelemetry.Acked.Add(1, _metricTags);
    }

    private async Task FailAsync(StreamEntry entry, Exception error)
    {
        Stats.AddFailed();
        StreamTelemetry.Failed.Add(1, _metricTags);
        var reason = $"{error.GetType().Name}: {error.Message}";
        Log.HandlerFailed(_logger, entry.Id, _options.Stream, _options.Group, entry.DeliveryCount, _options.MaxDeliveries, reason);
        if (entry.DeliveryCount >= _options.MaxDeliveries || error is PermanentStreamFailureException)
        {
            // A permanent failure (a corrupt image, a malformed message) would fail the same way
            // on every redelivery: dead-letter it now so the run goes on.
            await DeadLetterAsync(entry, reason).ConfigureAwait(false);
            return;
        }
        // Stays pending; XAUTOCLAIM redelivers it after ClaimIdleTimeout, here or on another replica.
        await _db.HashSetAsync(FailureHashKey, entry.Id, reason).ConfigureAwait(false);
    }

    private async Task DeadLetterAsync(StreamEntry entry, string reason)
    {
        var fields = new NameValueEntry[entry.Fields.Count + 5];
        var n = 0;
        foreach (var (name, value) in entry.Fields)
        {
            fields[n++] = new(name, value);
        }
        fields[n++] = new(StreamDeadLetterFields.Reason, reason);
        fields[n++] = new(StreamDeadLetterFields.SourceStream, entry.Stream);
        fields[n++] = new(StreamDeadLetterFields.Group, _options.Group);
        fields[n++] = new(StreamDeadLetterFields.OriginalId, entry.Id);
        fields[n++] = new(StreamDeadLetterFields.Deliveries, entry.DeliveryCount);
        // Dead letter first, then ack: a crash in between duplicates a dead letter, never loses one.
        await _db.StreamAddAsync(_options.DeadLetterStream, fields).ConfigureAwait(false);
        if (DeadLettered is { } recordFailure)
        {
            try
            {
                await recordFailure(entry, reason).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Log.LoopError(_logger, _options.Stream, _options.Group, $"recording dead letter {entry.Id} failed: {e.Message}; it stays pending");
                return;
            }
        }
        var ack = _db.StreamAcknowledgeAsync(_options.Stream, _options.Group, entry.Id);
        await _db.HashDeleteAsync(FailureHashKey, entry.Id).ConfigureAwait(false);
        await ack.ConfigureAwait(false);
        Stats.AddDeadLettered();
        StreamTelemetry.DeadLettered.Add(1, _metricTags);
        Log.DeadLettered(_logger, entry.Id, _options.Stream, _options.Group, entry.DeliveryCount, reason);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Consumer {Consumer} started on {Stream} (group {Group})")]
        public static partial void Started(ILogger logger, string consumer, string stream, string group);

        [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "Consumer {Consumer} on {Stream} stopped ({Stats})")]
        public static partial void Stopped(ILogger logger, string consumer, string stream, string stats);

        [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Handler failed for {Id} on {Stream} (group {Group}), delivery {Delivery}/{MaxDeliveries}: {Reason}")]
        public static partial void HandlerFailed(ILogger logger, string id, string stream, string group, long delivery, int maxDeliveries, string reason);

        [LoggerMessage(EventId = 103, Level = LogLevel.Error, Message = "Dead-lettered {Id} from {Stream} (group {Group}) after {Deliveries} deliveries: {Reason}")]
        public static partial void DeadLettered(ILogger logger, string id, string stream, string group, long deliveries, string reason);

        [LoggerMessage(EventId = 104, Level = LogLevel.Information, Message = "Reclaimed {Count} idle entries on {Stream} (group {Group})")]
        public static partial void Reclaimed(ILogger logger, int count, string stream, string group);

        [LoggerMessage(EventId = 105, Level = LogLevel.Warning, Message = "{Count} entries were deleted while pending on {Stream} (group {Group})")]
        public static partial void DeletedWhilePending(ILogger logger, int count, string stream, string group);

        [LoggerMessage(EventId = 106, Level = LogLevel.Warning, Message = "Consumer loop on {Stream} (group {Group}) hit a Redis error; retrying: {Reason}")]
        public static partial void LoopError(ILogger logger, string stream, string group, string reason);

        [LoggerMessage(EventId = 107, Level = LogLevel.Warning, Message = "Group {Group} on {Stream} is missing; recreating it")]
        public static partial void GroupMissing(ILogger logger, string stream, string group);

        [LoggerMessage(EventId = 108, Level = LogLevel.Warning, Message = "Handler on {Stream} (group {Group}) ignored cancellation after the drain timeout; abandoned, the entry stays pending")]
        public static partial void HandlerAbandoned(ILogger logger, string stream, string group);
    }
}
