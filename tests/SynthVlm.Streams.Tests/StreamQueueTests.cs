using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using StackExchange.Redis;
using SynthVlm.Testing;

namespace SynthVlm.Streams.Tests;

public class StreamQueueTests : IClassFixture<RedisFixture>
{
    private readonly RedisFixture _redis;

    public StreamQueueTests(RedisFixture redis) => _redis = redis;

    private ConnectionMultiplexer Connection => _redis.Connection;

    private static StreamConsumerOptions Fast(string stream, string group, string consumer) => new()
    {
        Stream = stream,
        Group = group,
        Consumer = consumer,
        BatchSize = 8,
        BlockTimeout = TimeSpan.FromMilliseconds(200),
        ClaimIdleTimeout = TimeSpan.FromMilliseconds(500),
        ClaimInterval = TimeSpan.FromMilliseconds(100),
        MaxDeliveries = 5,
        DrainTimeout = TimeSpan.FromSeconds(5),
        DeadLetterStream = stream + ":dead",
    };

    [Fact]
    public async Task One_consumer_sees_entries_in_xadd_order_and_acks_them()
    {
        var stream = RedisFixture.UniqueKey("order");
        var consumer = new StreamConsumer(Connection, Fast(stream, "g", "c1"));
        await consumer.EnsureGroupAsync(TestTimeout.Token());
        await consumer.EnsureGroupAsync(TestTimeout.Token()); // BUSYGROUP is fine
        var producer = new StreamProducer(Connection.GetDatabase());
        var ids = new List<string>();
        for (var i = 0; i < 200; i++)
        {
            ids.Add(await producer.ProduceAsync(stream, "run-1", "Caption", Encoding.UTF8.GetBytes($"item-{i}"), TestTimeout.Token()).WithTimeout());
        }
        var seen = new ConcurrentQueue<StreamEntry>();
        using var stop = new CancellationTokenSource();
        var run = consumer.RunAsync((e, _) => { seen.Enqueue(e); return Task.CompletedTask; }, stop.Token);
        await TestTimeout.Until(() => consumer.Stats.Acked == 200, what: "200 acks");
        await stop.CancelAsync();
        await run.WithTimeout();

        seen.Select(e => e.Id).Should().Equal(ids);
        seen.Select(e => Encoding.UTF8.GetString(e.Data.Span)).Should().Equal(Enumerable.Range(0, 200).Select(i => $"item-{i}"));
        seen.Should().OnlyContain(e => e.Run == "run-1" && e.Kind == "Caption" && e.DeliveryCount == 1 && e.Stream == stream);
        var info = await new StreamQueueInspector(Connection.GetDatabase()).GetQueueInfoAsync(stream, "g", TestTimeout.Token()).WithTimeout();
        info.Should().Be(new StreamQueueInfo(stream, "g", 200, 0, 0, 1, ids[^1], true));
    }

    [Fact]
    public async Task Killed_consumer_mid_batch_loses_nothing_and_the_effect_holds_exactly_once()
    {
        var stream = RedisFixture.UniqueKey("alo");
        var effect = stream + ":done";
        const int N = 40;
        var producer = new StreamProducer(Connection.GetDatabase());
        await new StreamConsumer(Connection, Fast(stream, "g", "setup")).EnsureGroupAsync(TestTimeout.Token());
        for (var i = 0; i < N; i++)
        {
            await producer.ProduceAsync(stream, "run", "Item", Encoding.UTF8.GetBytes($"key-{i}"), TestTimeout.Token()).WithTimeout();
        }

        // Consumer A: its own connections; its handler applies the effect, then hangs on the third entry.
        var connA = await RedisConnections.ConnectAsync(_redis.Options).WithTimeout();
        var consumerA = new StreamConsumer(connA, Fast(stream, "g", "A") with { DrainTimeout = TimeSpan.FromMilliseconds(50) });
        var hung = new TaskCompletionSource();
        var never = new TaskCompletionSource();
        var handledByA = 0;
        using var stopA = new CancellationTokenSource();
        var runA = consumerA.RunAsync(async (e, _) =>
        {
            await connA.GetDatabase().ExecuteAsync("SADD", effect, e.Data);
            if (Interlocked.Increment(ref handledByA) == 3)
            {
                hung.TrySetResult();
                await never.Task; // ignores its token: a replica stuck mid-item
            }
        }, stopA.Token);
        await hung.Task.WithTimeout();
        // Tear A down abruptly: stop without letting the hung item finish, and close its sockets.
        await stopA.CancelAsync();
        await runA.WithTimeout();
        await connA.DisposeAsync();
        consumerA.Stats.Acked.Should().Be(2);
        var pendingAfterA = await new StreamQueueInspector(Connection.GetDatabase()).GetQueueInfoAsync(stream, "g", TestTimeout.Token()).WithTimeout();
        pendingAfterA.Pending.Should().BeGreaterThanOrEqualTo(1, "A's batch was delivered but not acknowledged");

        // Consumer B reclaims A's idle entries after ClaimIdleTimeout and reads the rest.
        var consumerB = new StreamConsumer(Connection, Fast(stream, "g", "B"));
        var redelivered = new ConcurrentBag<StreamEntry>();
        using var stopB = new CancellationTokenSource();
        var runB = consumerB.RunAsync(async (e, _) =>
        {
            if (e.DeliveryCount > 1)
            {
                redelivered.Add(e);
            }
            await Connection.GetDatabase().ExecuteAsync("SADD", effect, e.Data);
        }, stopB.Token);
        await TestTimeout.Until(async () => (await new StreamQueueInspector(Connection.GetDatabase()).GetQueueInfoAsync(stream, "g")).Backlog == 0, what: "every entry acked");
        await stopB.CancelAsync();
        await runB.WithTimeout();
        never.TrySetResult();

        var members = (await Connection.GetDatabase().ExecuteAsync("SMEMBERS", effect).WithTimeout()).AsArray().Select(m => m.AsString()!).ToList();
        members.Should().BeEquivalentTo(Enumerable.Range(0, N).Select(i => $"key-{i}"), "each entry's effect holds exactly once");
        redelivered.Should().NotBeEmpty();
        redelivered.Select(e => Encoding.UTF8.GetString(e.Data.Span)).Should().Contain("key-2", "A applied the hung entry's effect but never acked it: at-least-once");
        (consumerA.Stats.Acked + consumerB.Stats.Acked).Should().Be(N);
    }

    [Fact]
    public async Task Entry_failing_max_deliveries_times_is_dead_lettered_with_the_handlers_reason_and_its_fields()
    {
        var stream = RedisFixture.UniqueKey("dead");
        var options = Fast(stream, "g", "c") with { MaxDeliveries = 3 };
        var consumer = new StreamConsumer(Connection, options);
        await consumer.EnsureGroupAsync(TestTimeout.Token());
        var id = await new StreamProducer(Connection.GetDatabase()).ProduceAsync(stream, "run-9", "Scored", new byte[] { 1, 2, 3 }, TestTimeout.Token()).WithTimeout();
        var attempts = 0;
        using var stop = new CancellationTokenSource();
        var run = consumer.RunAsync((e, _) => throw new InvalidOperationException($"model file missing (attempt {Interlocked.Increment(ref attempts)})"), stop.Token);
        await TestTimeout.Until(() => consumer.Stats.DeadLettered == 1, what: "the dead letter");
        await stop.CancelAsync();
        await run.WithTimeout();

        attempts.Should().Be(3);
        consumer.Stats.Failed.Should().Be(3);
        consumer.Stats.Acked.Should().Be(0);
        var dead = (await Connection.GetDatabase().ExecuteAsync("XRANGE", options.DeadLetterStream, "-", "+").WithTimeout()).AsArray();
        dead.Should().HaveCount(1);
        var fields = dead[0][1].AsMap();
        fields[KnownStreamFields.Run].AsString().Should().Be("run-9");
        fields[KnownStreamFields.Kind].AsString().Should().Be("Scored");
        fields[KnownStreamFields.Data].AsBytes().Should().Equal(1, 2, 3);
        fields[StreamDeadLetterFields.Reason].AsString().Should().Be("InvalidOperationException: model file missing (attempt 3)");
        fields[StreamDeadLetterFields.SourceStream].AsString().Should().Be(stream);
        fields[StreamDeadLetterFields.Group].AsString().Should().Be("g");
        fields[StreamDeadLetterFields.OriginalId].AsString().Should().Be(id);
        fields[StreamDeadLetterFields.Deliveries].AsInt64().Should().Be(3);
        var info = await new StreamQueueInspector(Connection.GetDatabase()).GetQueueInfoAsync(stream, "g", TestTimeout.Token()).WithTimeout();
        info.Pending.Should().Be(0);
        (await Connection.GetDatabase().ExecuteAsync("EXISTS", consumer.FailureHashKey).WithTimeout()).AsInt64().Should().Be(0, "the failure record is cleaned once dead-lettered");
    }

    [Fact]
    public async Task Permanent_failure_is_dead_lettered_on_the_first_delivery_and_the_rest_go_on()
    {
        var stream = RedisFixture.UniqueKey("permanent");
        var options = Fast(stream, "g", "c1");
        var consumer = new StreamConsumer(Connection, options);
        await consumer.EnsureGroupAsync(TestTimeout.Token());
        var producer = new StreamProducer(Connection.GetDatabase());
        var bad = await producer.ProduceAsync(stream, "r", "Image", Encoding.UTF8.GetBytes("corrupt"), TestTimeout.Token()).WithTimeout();
        await producer.ProduceAsync(stream, "r", "Image", Encoding.UTF8.GetBytes("fine"), TestTimeout.Token()).WithTimeout();
        var calls = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var run = consumer.RunAsync((e, _) =>
        {
            var text = Encoding.UTF8.GetString(e.Data.Span);
            calls.Enqueue(text);
            return text == "corrupt"
                ? throw new PermanentStreamFailureException("image runs/r/a.png: not a PNG, JPEG or WebP file")
                : Task.CompletedTask;
        }, stop.Token);
        await TestTimeout.Until(() => consumer.Stats.DeadLettered == 1 && consumer.Stats.Acked == 1, what: "one dead letter and one ack");
        await stop.CancelAsync();
        await run.WithTimeout();

        calls.Should().Equal("corrupt", "fine");
        var dead = (await Connection.GetDatabase().ExecuteAsync("XRANGE", options.DeadLetterStream, "-", "+").WithTimeout()).AsArray();
        dead.Should().HaveCount(1);
        var fields = dead[0][1].AsMap();
        fields[StreamDeadLetterFields.Reason].AsString().Should().Be("PermanentStreamFailureException: image runs/r/a.png: not a PNG, JPEG or WebP file");
        fields[StreamDeadLetterFields.OriginalId].AsString().Should().Be(bad);
        fields[StreamDeadLetterFields.Deliveries].AsInt64().Should().Be(1);
        var info = await new StreamQueueInspector(Connection.GetDatabase()).GetQueueInfoAsync(stream, "g", TestTimeout.Token()).WithTimeout();
        info.Pending.Should().Be(0);
    }

    [Fact]
    public async Task Max_concurrency_runs_entries_of_a_read_at_the_same_time_and_acks_each_once()
    {
        var stream = RedisFixture.UniqueKey("concurrent");
        var options = Fast(stream, "g", "c1") with { BatchSize = 8, MaxConcurrency = 4 };
        var consumer = new StreamConsumer(Connection, options);
        await consumer.EnsureGroupAsync(TestTimeout.Token());
        var producer = new StreamProducer(Connection.GetDatabase());
        for (var i = 0; i < 40; i++)
        {
            await producer.ProduceAsync(stream, "r", "Item", Encoding.UTF8.GetBytes($"item-{i}"), TestTimeout.Token()).WithTimeout();
        }
        var inFlight = 0;
        var peak = 0;
        var seen = new ConcurrentDictionary<string, int>();
        // Four handlers rendezvous before any returns: this only completes if four run at once.
        using var gate = new Barrier(4);
        using var stop = new CancellationTokenSource();
        var run = consumer.RunAsync(async (e, ct) =>
        {
            var now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref peak, now);
            seen.AddOrUpdate(Encoding.UTF8.GetString(e.Data.Span), 1, (_, n) => n + 1);
            await Task.Run(() => gate.SignalAndWait(TimeSpan.FromSeconds(5), ct), ct);
            Interlocked.Decrement(ref inFlight);
        }, stop.Token);
        await TestTimeout.Until(() => consumer.Stats.Acked == 40, what: "40 acks");
        await stop.CancelAsync();
        await run.WithTimeout();

        peak.Should().Be(4);
        seen.Should().HaveCount(40).And.OnlyContain(kv => kv.Value == 1);
        consumer.Stats.Failed.Should().Be(0);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current && Interlocked.CompareExchange(ref target, value, current) is var seen && seen != current)
        {
            current = seen;
        }
    }

    [Fact]
    public async Task Reason_recorded_by_a_dead_replica_is_the_dead_letters_reason()
    {
        var stream = RedisFixture.UniqueKey("dead2");
        var options = Fast(stream, "g", "first") with { MaxDeliveries = 1 };
        var failing = new StreamConsumer(Connection, options with { MaxDeliveries = 2 });
        await failing.EnsureGroupAsync(TestTimeout.Token());
        await new StreamProducer(Connection.GetDatabase()).ProduceAsync(stream, "r", "k", new byte[] { 9 }, TestTimeout.Token()).WithTimeout();
        using (var stop1 = new CancellationTokenSource())
        {
            var run1 = failing.RunAsync((_, _) => throw new FormatException("bad protobuf"), stop1.Token);
            await TestTimeout.Until(() => failing.Stats.Failed == 1, what: "first failure");
            await stop1.CancelAsync();
            await run1.WithTimeout();
        }
        // Another replica with a lower limit picks it up past MaxDeliveries and must report the stored reason.
        var other = new StreamConsumer(Connection, options with { Consumer = "second" });
        using var stop2 = new CancellationTokenSource();
        var handled = 0;
        var run2 = other.RunAsync((_, _) => { Interlocked.Increment(ref handled); return Task.CompletedTask; }, stop2.Token);
        await TestTimeout.Until(() => other.Stats.DeadLettered == 1, what: "dead letter by the second replica");
        await stop2.CancelAsync();
        await run2.WithTimeout();
        handled.Should().Be(0);
        var dead = (await Connection.GetDatabase().ExecuteAsync("XRANGE", options.DeadLetterStream, "-", "+").WithTimeout()).AsArray();
        dead[0][1].AsMap()[StreamDeadLetterFields.Reason].AsString().Should().Be("FormatException: bad protobuf");
    }

    [Fact]
    public async Task Producer_never_lets_the_backlog_exceed_max_backlog()
    {
        var stream = RedisFixture.UniqueKey("bp");
        const long Bound = 40;
        const int Total = 400;
        var consumer = new StreamConsumer(Connection, Fast(stream, "slow", "c"));
        await consumer.EnsureGroupAsync(TestTimeout.Token());
        var producer = new StreamProducer(Connection.GetDatabase(), new StreamProducerOptions { MaxBacklog = Bound, BackpressureInitialDelay = TimeSpan.FromMilliseconds(5), BackpressureMaxDelay = TimeSpan.FromMilliseconds(50) });
        await using var sampler = await RedisConnections.ConnectAsync(_redis.Options).WithTimeout();
        var inspector = new StreamQueueInspector(sampler.GetDatabase());
        long maxSeen = 0;
        var samples = 0;
        using var stop = new CancellationTokenSource();
        var sampling = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var info = await inspector.GetQueueInfoAsync(stream, "slow");
                info.Lag.Should().BeGreaterThanOrEqualTo(0);
                Interlocked.Exchange(ref maxSeen, Math.Max(Interlocked.Read(ref maxSeen), info.Backlog));
                Interlocked.Increment(ref samples);
                await Task.Delay(2);
            }
        });
        var run = consumer.RunAsync((_, ct) => Task.Delay(3, ct), stop.Token);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(p => Task.Run(async () =>
        {
            for (var i = 0; i < Total / 8; i++)
            {
                await producer.ProduceAsync(stream, "run", "k", new byte[64], TestTimeout.Token());
            }
        }))).WithTimeout();
        await TestTimeout.Until(() => consumer.Stats.Acked == Total, what: "all consumed");
        await stop.CancelAsync();
        await Task.WhenAll(run, sampling).WithTimeout();

        samples.Should().BeGreaterThan(20);
        maxSeen.Should().BeLessThanOrEqualTo(Bound, "the bound holds for a single producer instance (no slack)");
        maxSeen.Should().BeGreaterThan(Bound / 4, "the producer did run ahead of the slow consumer, so the bound was exercised");
    }

    [Fact]
    public async Task Backpressure_wait_is_cancellable()
    {
        var stream = RedisFixture.UniqueKey("bpc");
        await new StreamConsumer(Connection, Fast(stream, "idle", "c")).EnsureGroupAsync(TestTimeout.Token());
        var producer = new StreamProducer(Connection.GetDatabase(), new StreamProducerOptions { MaxBacklog = 3 });
        for (var i = 0; i < 3; i++)
        {
            await producer.ProduceAsync(stream, "r", "k", new byte[1], TestTimeout.Token()).WithTimeout();
        }
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var act = () => producer.ProduceAsync(stream, "r", "k", new byte[1], cts.Token);
        await act.Should().ThrowAsync<OperationCanceledException>().WithTimeout();
        (await Connection.GetDatabase().ExecuteAsync("XLEN", stream).WithTimeout()).AsInt64().Should().Be(3);
    }

    [Fact]
    public async Task Stop_lets_the_in_flight_handler_finish_and_acks_it()
    {
        var stream = RedisFixture.UniqueKey("drain");
        var consumer = new StreamConsumer(Connection, Fast(stream, "g", "c"));
        await consumer.EnsureGroupAsync(TestTimeout.Token());
        var producer = new StreamProducer(Connection.GetDatabase());
        for (var i = 0; i < 3; i++)
        {
            await producer.ProduceAsync(stream, "r", "k", new byte[] { (byte)i }, TestTimeout.Token()).WithTimeout();
        }
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var tokenCancelledDuringHandler = true;
        var handled = 0;
        using var stop = new CancellationTokenSource();
        var run = consumer.RunAsync(async (e, ct) =>
        {
            Interlocked.Increment(ref handled);
            started.TrySetResult();
            await release.Task;
            tokenCancelledDuringHandler = ct.IsCancellationRequested;
        }, stop.Token);
        await started.Task.WithTimeout();
        await stop.CancelAsync();
        await Task.Delay(200);
        run.IsCompleted.Should().BeFalse("the in-flight handler is still running");
        release.SetResult();
        await run.WithTimeout();

        handled.Should().Be(1, "no new entry starts after stop");
        tokenCancelledDuringHandler.Should().BeFalse("the handler's token is cancelled only after DrainTimeout");
        consumer.Stats.Acked.Should().Be(1);
        var info = await new StreamQueueInspector(Connection.GetDatabase()).GetQueueInfoAsync(stream, "g", TestTimeout.Token()).WithTimeout();
        info.Pending.Should().Be(2, "the unstarted rest of the batch stays pending for another replica");
    }

    [Fact]
    public async Task Drain_timeout_cancels_the_handlers_token()
    {
        var stream = RedisFixture.UniqueKey("drain2");
        var consumer = new StreamConsumer(Connection, Fast(stream, "g", "c") with { DrainTimeout = TimeSpan.FromMilliseconds(200) });
        await consumer.EnsureGroupAsync(TestTimeout.Token());
        await new StreamProducer(Connection.GetDatabase()).ProduceAsync(stream, "r", "k", new byte[1], TestTimeout.Token()).WithTimeout();
        var started = new TaskCompletionSource();
        using var stop = new CancellationTokenSource();
        var run = consumer.RunAsync(async (_, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        }, stop.Token);
        await started.Task.WithTimeout();
        await stop.CancelAsync();
        // The handler ignores stop and waits on its own token: RunAsync can only end once the
        // drain gives up and cancels that token (that the token stays uncancelled while draining
        // is shown by the test above, without timing).
        await run.WithTimeout();
        consumer.Stats.Acked.Should().Be(0);
        consumer.Stats.Failed.Should().Be(0, "cancellation on shutdown is not the entry's failure");
        (await new StreamQueueInspector(Connection.GetDatabase()).GetQueueInfoAsync(stream, "g", TestTimeout.Token()).WithTimeout()).Pending.Should().Be(1);
    }

    [Fact]
    public async Task Inspector_reports_missing_streams_and_groups_and_live_counts()
    {
        var stream = RedisFixture.UniqueKey("insp");
        var inspector = new StreamQueueInspector(Connection.GetDatabase());
        var missing = await inspector.GetQueueInfoAsync(stream, "g", TestTimeout.Token()).WithTimeout();
        missing.Should().Be(new StreamQueueInfo(stream, "g", 0, 0, -1, 0, null, false));
        var producer = new StreamProducer(Connection.GetDatabase());
        for (var i = 0; i < 3; i++)
        {
            await producer.ProduceAsync(stream, "r", "k", new byte[1], TestTimeout.Token()).WithTimeout();
        }
        (await inspector.GetQueueInfoAsync(stream, "g", TestTimeout.Token()).WithTimeout()).GroupExists.Should().BeFalse();
        await new StreamConsumer(Connection, Fast(stream, "g", "c")).EnsureGroupAsync(TestTimeout.Token());
        await Connection.GetDatabase().ExecuteAsync("XREADGROUP", "GROUP", "g", "c", "COUNT", 2, "STREAMS", stream, ">").WithTimeout();
        var info = await inspector.GetQueueInfoAsync(stream, "g", TestTimeout.Token()).WithTimeout();
        (info.Length, info.Pending, info.Lag, info.Consumers, info.GroupExists, info.Backlog).Should().Be((3L, 2L, 1L, 1L, true, 3L));

        // The same through RESP2, where XINFO answers flat arrays.
        await using var resp2 = await RedisConnections.ConnectAsync(_redis.Options with { Protocol = RedisProtocol.Resp2 }).WithTimeout();
        (await new StreamQueueInspector(resp2.GetDatabase()).GetQueueInfoAsync(stream, "g", TestTimeout.Token()).WithTimeout()).Should().Be(info);
    }

    [Fact]
    public async Task Consumer_works_over_resp2_too()
    {
        var stream = RedisFixture.UniqueKey("r2c");
        await using var resp2 = await RedisConnections.ConnectAsync(_redis.Options with { Protocol = RedisProtocol.Resp2 }).WithTimeout();
        var consumer = new StreamConsumer(resp2, Fast(stream, "g", "c"));
        await consumer.EnsureGroupAsync(TestTimeout.Token());
        var producer = new StreamProducer(resp2.GetDatabase(), new StreamProducerOptions { MaxLength = 1000, MaxBacklog = 100 });
        for (var i = 0; i < 20; i++)
        {
            await producer.ProduceAsync(stream, "r", "k", new byte[] { (byte)i }, TestTimeout.Token()).WithTimeout();
        }
        var data = new ConcurrentQueue<byte>();
        using var stop = new CancellationTokenSource();
        var run = consumer.RunAsync((e, _) => { data.Enqueue(e.Data.Span[0]); return Task.CompletedTask; }, stop.Token);
        await TestTimeout.Until(() => consumer.Stats.Acked == 20, what: "20 acks over RESP2");
        await stop.CancelAsync();
        await run.WithTimeout();
        data.Should().Equal(Enumerable.Range(0, 20).Select(i => (byte)i));
    }

    [Fact]
    public async Task Consumer_span_is_a_child_of_the_producer_span_and_links_to_it()
    {
        var stream = RedisFixture.UniqueKey("trace");
        var activities = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == StreamTelemetry.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a =>
            {
                if (Equals(a.GetTagItem(StreamTelemetry.DestinationTag), stream))
                {
                    activities.Enqueue(a);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        var consumer = new StreamConsumer(Connection, Fast(stream, "g", "c"));
        await consumer.EnsureGroupAsync(TestTimeout.Token());
        var id = await new StreamProducer(Connection.GetDatabase()).ProduceAsync(stream, "run-t", "Trace", new byte[1], TestTimeout.Token()).WithTimeout();
        string? seenTraceParent = null;
        using var stop = new CancellationTokenSource();
        var run = consumer.RunAsync((e, _) => { seenTraceParent = e.TraceParent; return Task.CompletedTask; }, stop.Token);
        await TestTimeout.Until(() => activities.Count >= 2, what: "producer and consumer spans");
        await stop.CancelAsync();
        await run.WithTimeout();

        var producerSpan = activities.Single(a => a.Kind == ActivityKind.Producer);
        var consumerSpan = activities.Single(a => a.Kind == ActivityKind.Consumer);
        seenTraceParent.Should().Be(producerSpan.Id);
        consumerSpan.TraceId.Should().Be(producerSpan.TraceId);
        consumerSpan.ParentSpanId.Should().Be(producerSpan.SpanId);
        consumerSpan.Links.Should().ContainSingle().Which.Context.SpanId.Should().Be(producerSpan.SpanId);
        consumerSpan.GetTagItem(StreamTelemetry.MessagingSystemTag).Should().Be("redis");
        consumerSpan.GetTagItem(StreamTelemetry.ConsumerGroupTag).Should().Be("g");
        consumerSpan.GetTagItem(StreamTelemetry.MessageIdTag).Should().Be(id);
        consumerSpan.GetTagItem(StreamTelemetry.RunTag).Should().Be("run-t");
        consumerSpan.GetTagItem(StreamTelemetry.KindTag).Should().Be("Trace");
        producerSpan.GetTagItem(StreamTelemetry.MessageIdTag).Should().Be(id);
    }

    [Fact]
    public async Task Metrics_count_received_acked_and_failed_with_stream_and_group_tags()
    {
        var stream = RedisFixture.UniqueKey("metrics");
        var counts = new ConcurrentDictionary<string, long>();
        using var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == StreamTelemetry.SourceName)
                {
                    l.EnableMeasurementEvents(i);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((i, value, tags, _) =>
        {
            foreach (var t in tags)
            {
                if (t.Key == StreamTelemetry.StreamTag && Equals(t.Value, stream))
                {
                    counts.AddOrUpdate(i.Name, value, (_, v) => v + value);
                }
            }
        });
        listener.SetMeasurementEventCallback<double>((i, _, tags, _) =>
        {
            foreach (var t in tags)
            {
                if (t.Key == StreamTelemetry.StreamTag && Equals(t.Value, stream))
                {
                    counts.AddOrUpdate(i.Name, 1, (_, v) => v + 1);
                }
            }
        });
        listener.Start();
        var consumer = new StreamConsumer(Connection, Fast(stream, "g", "c"));
        await consumer.EnsureGroupAsync(TestTimeout.Token());
        var producer = new StreamProducer(Connection.GetDatabase());
        for (var i = 0; i < 4; i++)
        {
            await producer.ProduceAsync(stream, "r", "k", new byte[] { (byte)i }, TestTimeout.Token()).WithTimeout();
        }
        using var stop = new CancellationTokenSource();
        var run = consumer.RunAsync((e, _) => e.Data.Span[0] == 0 && e.DeliveryCount == 1 ? throw new InvalidOperationException("once") : Task.CompletedTask, stop.Token);
        await TestTimeout.Until(() => consumer.Stats.Acked == 4, what: "all acked after one retry");
        await stop.CancelAsync();
        await run.WithTimeout();
        counts[StreamTelemetry.ReceivedCounter].Should().Be(5);
        counts[StreamTelemetry.AckedCounter].Should().Be(4);
        counts[StreamTelemetry.FailedCounter].Should().Be(1);
        counts[StreamTelemetry.HandleDurationHistogram].Should().Be(5);
        consumer.Stats.Received.Should().Be(5);
    }

    [Fact]
    public async Task Entries_deleted_while_pending_are_dropped_by_the_claim_without_reaching_the_handler()
    {
        var stream = RedisFixture.UniqueKey("xdel");
        var consumer = new StreamConsumer(Connection, Fast(stream, "g", "c"));
        await consumer.EnsureGroupAsync(TestTimeout.Token());
        var producer = new StreamProducer(Connection.GetDatabase());
        var doomed = await producer.ProduceAsync(stream, "r", "k", new byte[] { 1 }, TestTimeout.Token()).WithTimeout();
        var kept = await producer.ProduceAsync(stream, "r", "k", new byte[] { 2 }, TestTimeout.Token()).WithTimeout();
        // Another consumer took both and died; then one entry was deleted.
        await Connection.GetDatabase().ExecuteAsync("XREADGROUP", "GROUP", "g", "dead-replica", "COUNT", 10, "STREAMS", stream, ">").WithTimeout();
        await Connection.GetDatabase().ExecuteAsync("HSET", consumer.FailureHashKey, doomed, "old failure").WithTimeout();
        (await Connection.GetDatabase().ExecuteAsync("XDEL", stream, doomed).WithTimeout()).AsInt64().Should().Be(1);
        var seen = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var run = consumer.RunAsync((e, _) => { seen.Enqueue(e.Id); return Task.CompletedTask; }, stop.Token);
        await TestTimeout.Until(() => consumer.Stats.Acked == 1, what: "the surviving entry");
        await TestTimeout.Until(async () => (await Connection.GetDatabase().ExecuteAsync("HEXISTS", consumer.FailureHashKey, doomed)).AsInt64() == 0, what: "the deleted entry's failure record to be cleaned");
        await stop.CancelAsync();
        await run.WithTimeout();
        seen.Should().Equal(kept);
        var info = await new StreamQueueInspector(Connection.GetDatabase()).GetQueueInfoAsync(stream, "g", TestTimeout.Token()).WithTimeout();
        info.Pending.Should().Be(0);
        consumer.Stats.Received.Should().Be(1);
    }

    [Fact]
    public async Task Producer_trims_with_approximate_maxlen()
    {
        var stream = RedisFixture.UniqueKey("trim");
        var producer = new StreamProducer(Connection.GetDatabase(), new StreamProducerOptions { MaxLength = 50 });
        for (var i = 0; i < 600; i++)
        {
            await producer.ProduceAsync(stream, "r", "k", new byte[8], TestTimeout.Token()).WithTimeout();
        }
        var length = (await Connection.GetDatabase().ExecuteAsync("XLEN", stream).WithTimeout()).AsInt64();
        length.Should().BeGreaterThanOrEqualTo(50).And.BeLessThan(600, "MAXLEN ~ trims whole radix-tree nodes");
    }

    [Fact]
    public async Task Producer_far_below_the_bound_does_not_measure_per_xadd()
    {
        // Own server, so no other test's XINFO shows up in the command stats.
        await using var server = await RedisServer.StartAsync(cancellationToken: TestTimeout.Token());
        // CONFIG RESETSTAT is an admin command: StackExchange.Redis sends it only with allowAdmin.
        await using var c = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString + ",allowAdmin=true").WithTimeout();
        const string Stream = "test:budget";
        await new StreamConsumer(c, Fast(Stream, "g", "c")).EnsureGroupAsync(TestTimeout.Token());
        await c.GetDatabase().ExecuteAsync("CONFIG", "RESETSTAT").WithTimeout();
        var producer = new StreamProducer(c.GetDatabase(), new StreamProducerOptions { MaxBacklog = 10_000 });
        await Task.WhenAll(Enumerable.Range(0, 500).Select(i => producer.ProduceAsync(Stream, "r", "k", new byte[4], TestTimeout.Token()))).WithTimeout();
        var stats = (await c.GetDatabase().ExecuteAsync("INFO", "commandstats").WithTimeout()).AsString()!;
        var xinfo = stats.Split('\n').Single(l => l.StartsWith("cmdstat_xinfo|groups:", StringComparison.Ordinal));
        var calls = int.Parse(xinfo.Split(':')[1].Split(',')[0].Split('=')[1], System.Globalization.CultureInfo.InvariantCulture);
        calls.Should().BeInRange(1, 5, "credit from one measurement covers many XADDs");
        (await c.GetDatabase().ExecuteAsync("XLEN", Stream).WithTimeout()).AsInt64().Should().Be(500);
    }
}
