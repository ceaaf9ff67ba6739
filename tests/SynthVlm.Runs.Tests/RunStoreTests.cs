using SynthVlm.Protos.V1;
using SynthVlm.Testing;

namespace SynthVlm.Runs.Tests;

public sealed class RunStoreTests(RedisFixture redis) : IClassFixture<RedisFixture>, IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("runs-");

    public void Dispose() => _dir.Delete(recursive: true);

    private RunConfig Config(string id, int variants = 2)
    {
        var pool = Path.Combine(_dir.FullName, "pool.jsonl");
        File.WriteAllText(pool, "{\"id\":\"a\",\"caption\":\"a dog\"}\n");
        return RunConfigs.Normalize(new RunConfig { Id = id, Captions = pool, Variants = variants, TopK = 3 }, _dir.FullName, DateTimeOffset.UnixEpoch);
    }

    [Fact]
    public async Task Submitting_the_same_id_and_config_twice_returns_one_run_and_a_different_config_is_refused()
    {
        var store = new RunStore(redis.Connection);
        var config = Config("same-" + Guid.NewGuid().ToString("N")[..8]);
        var (first, created) = await store.SubmitAsync(config).WithTimeout();
        var (second, createdAgain) = await store.SubmitAsync(config.Clone()).WithTimeout();

        created.Should().BeTrue();
        createdAgain.Should().BeFalse();
        second.Id.Should().Be(first.Id);
        second.State.Should().Be(RunState.Pending);
        second.Config.Should().Be(config);
        (await store.GetActiveAsync()).Should().Contain(config.Id);
        (await store.GetIngestPendingAsync()).Should().Contain(config.Id);

        var other = config.Clone();
        other.Variants = 3;
        var act = () => store.SubmitAsync(other);
        (await act.Should().ThrowAsync<RunAlreadyExistsException>()).Which.Id.Should().Be(config.Id);
    }

    [Fact]
    public async Task The_first_trace_root_recorded_for_a_run_stays_and_its_trace_id_comes_with_the_run()
    {
        var store = new RunStore(redis.Connection);
        var config = Config("trace-" + Guid.NewGuid().ToString("N")[..8]);
        await store.SubmitAsync(config).WithTimeout();
        (await store.GetTraceParentAsync(config.Id).WithTimeout()).Should().BeNull();
        (await store.GetAsync(config.Id).WithTimeout())!.TraceId.Should().BeEmpty();

        const string First = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        await store.SetTraceParentAsync(config.Id, First).WithTimeout();
        await store.SetTraceParentAsync(config.Id, "00-11111111111111111111111111111111-2222222222222222-01").WithTimeout();

        (await store.GetTraceParentAsync(config.Id).WithTimeout()).Should().Be(First);
        (await store.GetAsync(config.Id).WithTimeout())!.TraceId.Should().Be("0af7651916cd43dd8448eb211c80319c");
        RunTelemetry.TraceIdOf("not a traceparent").Should().BeEmpty();
    }

    [Fact]
    public void Run_spans_start_under_the_recorded_root_and_carry_the_run()
    {
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == RunTelemetry.SourceName,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        using var root = RunTelemetry.Start("run r1", "r1", traceParent: null);
        root.Should().NotBeNull();
        root!.Stop();

        using var child = RunTelemetry.Start("ingest r1", "r1", root.Id);

        child!.TraceId.Should().Be(root.TraceId);
        child.ParentSpanId.Should().Be(root.SpanId);
        child.GetTagItem(RunTelemetry.RunTag).Should().Be("r1");
    }

    [Fact]
    public async Task Progress_counts_are_idempotent_and_a_stage_is_done_only_when_upstream_is_done_and_everything_is_finished()
    {
        var store = new RunStore(redis.Connection);
        var config = Config("prog-" + Guid.NewGuid().ToString("N")[..8], variants: 2);
        await store.SubmitAsync(config);
        var id = config.Id;
        // Three pool records: 0 dropped at ingest, 1 and 2 sent to curation; 2 dropped by curation.
        await store.MarkAsync(id, RunStages.Ingest, ProgressMark.Processed, [0L, 1, 2]);
        await store.MarkAsync(id, RunStages.Ingest, ProgressMark.Dropped, 0);
        await store.MarkAsync(id, RunStages.Curation, ProgressMark.Emitted, [1L, 2]);
        await store.MarkAsync(id, RunStages.Curation, ProgressMark.Processed, [1L, 2, 2, 2]);
        await store.MarkAsync(id, RunStages.Curation, ProgressMark.Dropped, 2);
        // Caption 1 → images 2 and 3; image 3 dead in diffusion, image 2 on to scoring.
        await store.MarkAsync(id, RunStages.Diffusion, ProgressMark.Emitted, [2L, 3]);
        await store.MarkAsync(id, RunStages.Diffusion, ProgressMark.Processed, 2);

        var run = (await store.GetAsync(id))!;
        var stages = run.Stages.ToDictionary(s => s.Stage);
        stages[RunStages.Ingest].Done.Should().BeFalse("the pool is not read to the end yet");
        stages[RunStages.Curation].Done.Should().BeFalse("ingest is not done");

        await store.CompleteIngestAsync(id, 3);
        stages = (await store.GetAsync(id))!.Stages.ToDictionary(s => s.Stage);
        stages[RunStages.Ingest].Should().BeEquivalentTo(new { Processed = 3, Dropped = 1, Done = true });
        stages[RunStages.Curation].Should().BeEquivalentTo(new { Emitted = 2, Processed = 2, Dropped = 1, Done = true });
        stages[RunStages.Diffusion].Done.Should().BeFalse("image 3 is neither processed nor dead");

        await store.MarkAsync(id, RunStages.Diffusion, ProgressMark.Dead, 3);
        // A redelivered item that finished on one replica and was dead-lettered on another counts once.
        await store.MarkAsync(id, RunStages.Diffusion, ProgressMark.Dead, 2);
        stages = (await store.GetAsync(id))!.Stages.ToDictionary(s => s.Stage);
        stages[RunStages.Diffusion].Done.Should().BeTrue();
        stages[RunStages.Scoring].Done.Should().BeTrue("nothing was emitted to scoring yet and diffusion is done");

        await store.MarkAsync(id, RunStages.Scoring, ProgressMark.Emitted, 2);
        stages = (await store.GetAsync(id))!.Stages.ToDictionary(s => s.Stage);
        stages[RunStages.Scoring].Done.Should().BeFalse();
        stages[RunStages.Selection].Done.Should().BeFalse("its upstream is not done");
        (await redis.Connection.ExecuteAsync("KEYS", $"synthvlm:run:{id}:*:scratch:*")).Length.Should().Be(0, "scratch keys are removed");
    }

    [Fact]
    public async Task Cancel_moves_an_unfinished_run_once_and_leaves_a_finished_one_alone()
    {
        var store = new RunStore(redis.Connection);
        var config = Config("cancel-" + Guid.NewGuid().ToString("N")[..8]);
        await store.SubmitAsync(config);
        await store.ClaimUniqueAsync(config.Id, "a", "h", 0);
        var cancelled = await store.CancelAsync(config.Id, "user asked");
        ((long)await redis.Connection.ExecuteAsync("EXISTS", RunKeys.Ids(config.Id), RunKeys.Texts(config.Id))).Should().Be(0, "the duplicate sets go when the run finishes");
        cancelled.State.Should().Be(RunState.Cancelled);
        cancelled.Reason.Should().Be("user asked");
        (await store.GetActiveAsync()).Should().NotContain(config.Id);
        (await store.CompleteAsync(config.Id, "/x", 1, null)).Should().BeFalse("a cancelled run stays cancelled");
        (await store.CancelAsync(config.Id, "again")).Reason.Should().Be("user asked");
        var unknown = () => store.CancelAsync("no-such-run", null);
        await unknown.Should().ThrowAsync<KeyNotFoundException>();
        (await store.GetAsync("no-such-run")).Should().BeNull();
        (await store.GetAsync("../bad id")).Should().BeNull();
    }

    [Fact]
    public async Task Unique_claims_keep_the_first_position_and_a_resumed_reader_finds_itself()
    {
        var store = new RunStore(redis.Connection);
        var config = Config("uniq-" + Guid.NewGuid().ToString("N")[..8]);
        await store.SubmitAsync(config);
        (await store.ClaimUniqueAsync(config.Id, "a", "h1", 0)).Should().Be((-1L, -1L));
        (await store.ClaimUniqueAsync(config.Id, "b", "h1", 1)).Should().Be((-1L, 0L));
        (await store.ClaimUniqueAsync(config.Id, "a", "h2", 2)).Should().Be((0L, -1L));
        (await store.ClaimUniqueAsync(config.Id, "a", "h1", 0)).Should().Be((-1L, -1L), "re-reading record 0 after a restart is not a duplicate of itself");
    }

    [Fact]
    public async Task A_lease_is_exclusive_renewed_while_held_and_free_again_after_release_or_expiry()
    {
        var key = "synthvlm:test:lease:" + Guid.NewGuid().ToString("N");
        // A TTL of 3 s renewed every second: a loaded 2-core CI machine can stall a renewal for
        // a second, not for two (a 1 s TTL failed there once).
        await using (var first = await RunLease.TryAcquireAsync(redis.Connection, key, "one", TimeSpan.FromSeconds(3)))
        {
            first.Should().NotBeNull();
            (await RunLease.TryAcquireAsync(redis.Connection, key, "two", TimeSpan.FromSeconds(3))).Should().BeNull();
            // Past the TTL: only renewals keep it (they run every third of it).
            await Task.Delay(4000);
            (await RunLease.TryAcquireAsync(redis.Connection, key, "two", TimeSpan.FromSeconds(3))).Should().BeNull("the holder renews it");
            first!.Lost.IsCancellationRequested.Should().BeFalse();
        }
        await using (var second = await RunLease.TryAcquireAsync(redis.Connection, key, "two", TimeSpan.FromMilliseconds(300)))
        {
            second.Should().NotBeNull("released leases are free");
            // Someone else takes it over (as after an expiry): the holder learns it lost it.
            await redis.Connection.ExecuteAsync("SET", key, "three");
            await TestTimeout.Until(() => Task.FromResult(second!.Lost.IsCancellationRequested), what: "lease lost");
        }
        (await redis.Connection.ExecuteAsync("GET", key)).ToString().Should().Be("three", "a lost lease is not released by its old holder");
    }
}
