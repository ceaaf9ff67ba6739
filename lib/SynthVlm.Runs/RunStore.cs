using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using SynthVlm.Protos.V1;
using SynthVlm.Redis;

namespace SynthVlm.Runs;

/// <summary>
/// Run state in Redis: the run hash, the run lists, and per-stage progress bitmaps. Setting a bit
/// is idempotent, so counts stay exact when an entry is processed twice (at-least-once delivery).
/// Every replica of every service reads and writes runs through this class.
/// </summary>
public sealed class RunStore
{
    // Atomic submit: a new run is written whole; an existing id returns its stored config.
    private const string SubmitScript = """
        local existing = redis.call('HGET', KEYS[1], 'config')
        if existing then return {0, existing} end
        redis.call('HSET', KEYS[1], 'config', ARGV[1], 'state', ARGV[4], 'created', ARGV[2], 'updated', ARGV[2], 'ingest_next', '0')
        redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
        redis.call('SADD', KEYS[3], ARGV[3])
        redis.call('SADD', KEYS[4], ARGV[3])
        return {1, ''}
        """;

    // Compare-and-set of the state: ARGV = new state, now, reason ('' keeps it), allowed current states...
    private const string TransitionScript = """
        local s = redis.call('HGET', KEYS[1], 'state')
        if not s then return -1 end
        for i = 4, #ARGV do
          if s == ARGV[i] then
            redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updated', ARGV[2])
            if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'reason', ARGV[3]) end
            return 1
          end
        end
        return 0
        """;

    // Counts of every stage: KEYS are 5 per stage (emitted, processed, dropped, dead, scratch);
    // returns emitted, processed, dropped, dead, |processed ∪ dead| per stage.
    private const string ProgressScript = """
        local out = {}
        for i = 1, #KEYS, 5 do
          out[#out + 1] = redis.call('BITCOUNT', KEYS[i])
          out[#out + 1] = redis.call('BITCOUNT', KEYS[i + 1])
          out[#out + 1] = redis.call('BITCOUNT', KEYS[i + 2])
          out[#out + 1] = redis.call('BITCOUNT', KEYS[i + 3])
          redis.call('BITOP', 'OR', KEYS[i + 4], KEYS[i + 1], KEYS[i + 3])
          out[#out + 1] = redis.call('BITCOUNT', KEYS[i + 4])
          redis.call('DEL', KEYS[i + 4])
        end
        return out
        """;

    private const string ClaimScript = "redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) return redis.call('HGET', KEYS[1], ARGV[1])";

    private static readonly RunState[] Unfinished = [RunState.Pending, RunState.Running, RunState.Writing];

    private readonly RedisConnection _connection;
    private readonly TimeProvider _time;

    /// <summary>Creates a store over <paramref name="connection"/>.</summary>
    public RunStore(RedisConnection connection, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connection = connection;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Whether the state is final.</summary>
    public static bool IsFinished(RunState state) => state is RunState.Completed or RunState.Failed or RunState.Cancelled;

    /// <summary>
    /// Records a normalised config as a new PENDING run (listed as active and waiting for ingestion).
    /// Returns the run and whether it was created; an existing run with an equal config is
    /// returned as it is, one with a different config throws <see cref="RunAlreadyExistsException"/>.
    /// </summary>
    public async Task<(Run Run, bool Created)> SubmitAsync(RunConfig config, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        var id = Check(config.Id);
        var now = NowMs();
        var reply = await _connection.ExecuteAsync("EVAL", cancellationToken, SubmitScript, 4,
            RunKeys.Run(id), RunKeys.All, RunKeys.Active, RunKeys.Ingest,
            config.ToByteArray(), now, id, StateText(RunState.Pending)).ConfigureAwait(false);
        var created = reply[0].AsInt64() == 1;
        if (!created)
        {
            var existing = RunConfig.Parser.ParseFrom(reply[1].AsMemory().Span);
            if (!existing.Equals(config))
            {
                throw new RunAlreadyExistsException(id);
            }
        }
        var run = await GetAsync(id, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"run '{id}' vanished right after it was submitted.");
        return (run, created);
    }

    /// <summary>The run with its per-stage progress, or null when Redis does not know it.</summary>
    public async Task<Run?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        if (!RunConfigs.IsValidId(id))
        {
            return null;
        }
        var hash = await _connection.ExecuteAsync("HGETALL", cancellationToken, RunKeys.Run(id)).ConfigureAwait(false);
        var fields = hash.AsMap();
        if (!fields.TryGetValue(RunKeys.Fields.Config, out var configBytes))
        {
            return null;
        }
        var run = new Run
        {
            Id = id,
            Config = RunConfig.Parser.ParseFrom(configBytes.AsMemory().Span),
            State = ParseState(fields.GetValueOrDefault(RunKeys.Fields.State)?.AsString()),
            Reason = fields.GetValueOrDefault(RunKeys.Fields.Reason)?.AsString() ?? "",
            Created = Timestamp.FromDateTimeOffset(FromMs(fields.GetValueOrDefault(RunKeys.Fields.Created))),
            Updated = Timestamp.FromDateTimeOffset(FromMs(fields.GetValueOrDefault(RunKeys.Fields.Updated))),
            Dataset = fields.GetValueOrDefault(RunKeys.Fields.Dataset)?.AsString() ?? "",
            Selected = long.TryParse(fields.GetValueOrDefault(RunKeys.Fields.Selected)?.AsString(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0,
            TraceId = RunTelemetry.TraceIdOf(fields.GetValueOrDefault(RunKeys.Fields.TraceParent)?.AsString()),
        };
        var ingestDone = fields.GetValueOrDefault(RunKeys.Fields.IngestDone)?.AsString() == "1";
        var barrierPending = fields.GetValueOrDefault(RunKeys.Fields.Barrier)?.AsString() == "pending";
        run.Stages.AddRange(await GetProgressAsync(id, ingestDone, barrierPending, cancellationToken).ConfigureAwait(false));
        return run;
    }

    /// <summary>Records the run's trace root unless it has one already (a resubmission keeps the first).</summary>
    public Task SetTraceParentAsync(string id, string traceParent, CancellationToken cancellationToken = default) =>
        _connection.ExecuteAsync("HSETNX", cancellationToken, RunKeys.Run(Check(id)), RunKeys.Fields.TraceParent, traceParent);

    /// <summary>The run's trace root (a W3C traceparent), or null when none was recorded.</summary>
    public async Task<string?> GetTraceParentAsync(string id, CancellationToken cancellationToken = default)
    {
        var reply = await _connection.ExecuteAsync("HGET", cancellationToken, RunKeys.Run(Check(id)), RunKeys.Fields.TraceParent).ConfigureAwait(false);
        return reply.IsNull ? null : reply.AsString();
    }

    /// <summary>The run's config, or null when Redis does not know the run.</summary>
    public async Task<RunConfig?> GetConfigAsync(string id, CancellationToken cancellationToken = default)
    {
        if (!RunConfigs.IsValidId(id))
        {
            return null;
        }
        var reply = await _connection.ExecuteAsync("HGET", cancellationToken, RunKeys.Run(id), RunKeys.Fields.Config).ConfigureAwait(false);
        return reply.IsNull ? null : RunConfig.Parser.ParseFrom(reply.AsMemory().Span);
    }

    /// <summary>The run's state, or null when Redis does not know the run.</summary>
    public async Task<RunState?> GetStateAsync(string id, CancellationToken cancellationToken = default)
    {
        if (!RunConfigs.IsValidId(id))
        {
            return null;
        }
        var reply = await _connection.ExecuteAsync("HGET", cancellationToken, RunKeys.Run(id), RunKeys.Fields.State).ConfigureAwait(false);
        return reply.IsNull ? null : ParseState(reply.AsString());
    }

    /// <summary>Per-stage progress computed from the bitmaps (see <see cref="StageProgress"/> for the done rule).</summary>
    /// <param name="id">The run.</param>
    /// <param name="ingestDone">Whether the pool has been read to the end.</param>
    /// <param name="barrierPending">Whether captions with images still wait for the curation top-fraction decision (curation is not done until it is made).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<IReadOnlyList<StageProgress>> GetProgressAsync(string id, bool ingestDone, bool barrierPending = false, CancellationToken cancellationToken = default)
    {
        var args = new List<RedisArg> { ProgressScript, RunStages.All.Count * 5 };
        foreach (var stage in RunStages.All)
        {
            args.Add(RunKeys.Progress(id, stage, ProgressMark.Emitted));
            args.Add(RunKeys.Progress(id, stage, ProgressMark.Processed));
            args.Add(RunKeys.Progress(id, stage, ProgressMark.Dropped));
            args.Add(RunKeys.Progress(id, stage, ProgressMark.Dead));
            args.Add(RunKeys.Scratch(id, stage));
        }
        var reply = await _connection.ExecuteAsync("EVAL", cancellationToken, args.ToArray()).ConfigureAwait(false);
        var result = new List<StageProgress>(RunStages.All.Count);
        var upstreamDone = true;
        for (var s = 0; s < RunStages.All.Count; s++)
        {
            var stage = new StageProgress
            {
                Stage = RunStages.All[s],
                Emitted = reply[(s * 5) + 0].AsInt64(),
                Processed = reply[(s * 5) + 1].AsInt64(),
                Dropped = reply[(s * 5) + 2].AsInt64(),
                DeadLettered = reply[(s * 5) + 3].AsInt64(),
                EtaSeconds = -1,
            };
            if (s == 0)
            {
                // Every record read is both sent into and finished by ingestion.
                stage.Emitted = stage.Processed;
            }
            var finished = reply[(s * 5) + 4].AsInt64();
            stage.Done = s == 0 ? ingestDone : upstreamDone && finished >= stage.Emitted && !(barrierPending && stage.Stage == RunStages.Curation);
            upstreamDone = stage.Done;
            result.Add(stage);
        }
        return result;
    }

    /// <summary>Sets one progress bit (idempotent).</summary>
    public Task MarkAsync(string id, string stage, ProgressMark mark, long item, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(item);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(item, RunItems.MaxItem);
        return _connection.ExecuteAsync("SETBIT", cancellationToken, RunKeys.Progress(id, stage, mark), item, 1);
    }

    /// <summary>Sets many progress bits (pipelined; idempotent).</summary>
    public Task MarkAsync(string id, string stage, ProgressMark mark, IEnumerable<long> items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        return Task.WhenAll(items.Select(i => MarkAsync(id, stage, mark, i, cancellationToken)));
    }

    /// <summary>Moves the run to <paramref name="state"/> when it is in one of <paramref name="from"/>; returns whether it moved.</summary>
    /// <exception cref="KeyNotFoundException">Redis does not know the run.</exception>
    public async Task<bool> TransitionAsync(string id, RunState state, string? reason, IReadOnlyCollection<RunState> from, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(from);
        var args = new List<RedisArg> { TransitionScript, 1, RunKeys.Run(Check(id)), StateText(state), NowMs(), reason ?? "" };
        args.AddRange(from.Select(s => (RedisArg)StateText(s)));
        var moved = (await _connection.ExecuteAsync("EVAL", cancellationToken, args.ToArray()).ConfigureAwait(false)).AsInt64();
        if (moved < 0)
        {
            throw new KeyNotFoundException($"run '{id}' is not known to Redis.");
        }
        if (moved == 1 && IsFinished(state))
        {
            await _connection.ExecuteAsync("SREM", cancellationToken, RunKeys.Active, id).ConfigureAwait(false);
            await _connection.ExecuteAsync("SREM", cancellationToken, RunKeys.Ingest, id).ConfigureAwait(false);
            // The duplicate sets hold a field per caption; they only matter while the pool is read.
            await _connection.ExecuteAsync("DEL", cancellationToken, RunKeys.Ids(id), RunKeys.Texts(id)).ConfigureAwait(false);
        }
        return moved == 1;
    }

    /// <summary>Cancels an unfinished run; a finished one is returned unchanged.</summary>
    /// <exception cref="KeyNotFoundException">Redis does not know the run.</exception>
    public async Task<Run> CancelAsync(string id, string? reason, CancellationToken cancellationToken = default)
    {
        await TransitionAsync(id, RunState.Cancelled, string.IsNullOrWhiteSpace(reason) ? "cancelled" : reason, Unfinished, cancellationToken).ConfigureAwait(false);
        return await GetAsync(id, cancellationToken).ConfigureAwait(false) ?? throw new KeyNotFoundException($"run '{id}' is not known to Redis.");
    }

    /// <summary>Fails an unfinished run with <paramref name="reason"/>.</summary>
    public Task<bool> FailAsync(string id, string reason, CancellationToken cancellationToken = default) =>
        TransitionAsync(id, RunState.Failed, reason, Unfinished, cancellationToken);

    /// <summary>Records the ingestion checkpoint: every pool record before <paramref name="next"/> is enqueued or dropped.</summary>
    public Task SetIngestCheckpointAsync(string id, long next, CancellationToken cancellationToken = default) =>
        _connection.ExecuteAsync("HSET", cancellationToken, RunKeys.Run(Check(id)), RunKeys.Fields.IngestNext, next, RunKeys.Fields.Updated, NowMs());

    /// <summary>The ingestion checkpoint (0 when none).</summary>
    public async Task<long> GetIngestCheckpointAsync(string id, CancellationToken cancellationToken = default)
    {
        var reply = await _connection.ExecuteAsync("HGET", cancellationToken, RunKeys.Run(Check(id)), RunKeys.Fields.IngestNext).ConfigureAwait(false);
        return long.TryParse(reply.AsString(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;
    }

    /// <summary>Records that the whole pool has been read (<paramref name="records"/> records) and takes the run off the ingestion list.</summary>
    public async Task CompleteIngestAsync(string id, long records, CancellationToken cancellationToken = default)
    {
        await _connection.ExecuteAsync("HSET", cancellationToken, RunKeys.Run(Check(id)), RunKeys.Fields.IngestNext, records, RunKeys.Fields.IngestDone, "1", RunKeys.Fields.Updated, NowMs()).ConfigureAwait(false);
        await _connection.ExecuteAsync("SREM", cancellationToken, RunKeys.Ingest, id).ConfigureAwait(false);
    }

    /// <summary>Records that some captions wait for the curation top-fraction decision (idempotent; never undoes a release).</summary>
    public Task HoldCurationAsync(string id, CancellationToken cancellationToken = default) =>
        _connection.ExecuteAsync("HSETNX", cancellationToken, RunKeys.Run(Check(id)), RunKeys.Fields.Barrier, "pending");

    /// <summary>Records that the curation top-fraction decision is made and its captions are on their way.</summary>
    public Task ReleaseCurationAsync(string id, CancellationToken cancellationToken = default) =>
        _connection.ExecuteAsync("HSET", cancellationToken, RunKeys.Run(Check(id)), RunKeys.Fields.Barrier, "released");

    /// <summary>Whether the run's curation barrier is pending.</summary>
    public async Task<bool> IsCurationHeldAsync(string id, CancellationToken cancellationToken = default) =>
        (await _connection.ExecuteAsync("HGET", cancellationToken, RunKeys.Run(Check(id)), RunKeys.Fields.Barrier).ConfigureAwait(false)).AsString() == "pending";

    /// <summary>Marks the run COMPLETED with its dataset (when it is WRITING or RUNNING).</summary>
    public async Task<bool> CompleteAsync(string id, string dataset, long selected, string? note, CancellationToken cancellationToken = default)
    {
        await _connection.ExecuteAsync("HSET", cancellationToken, RunKeys.Run(Check(id)), RunKeys.Fields.Dataset, dataset, RunKeys.Fields.Selected, selected).ConfigureAwait(false);
        return await TransitionAsync(id, RunState.Completed, note, [RunState.Running, RunState.Writing, RunState.Pending], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Ids of runs that are not finished.</summary>
    public async Task<IReadOnlyList<string>> GetActiveAsync(CancellationToken cancellationToken = default) =>
        Strings(await _connection.ExecuteAsync("SMEMBERS", cancellationToken, RunKeys.Active).ConfigureAwait(false));

    /// <summary>Ids of runs whose pool has not been read to the end.</summary>
    public async Task<IReadOnlyList<string>> GetIngestPendingAsync(CancellationToken cancellationToken = default) =>
        Strings(await _connection.ExecuteAsync("SMEMBERS", cancellationToken, RunKeys.Ingest).ConfigureAwait(false));

    /// <summary>The newest <paramref name="limit"/> run ids.</summary>
    public async Task<IReadOnlyList<string>> ListAsync(int limit, CancellationToken cancellationToken = default) =>
        Strings(await _connection.ExecuteAsync("ZREVRANGE", cancellationToken, RunKeys.All, 0, limit - 1).ConfigureAwait(false));

    /// <summary>First claims a caption id and a normalised-text hash for pool position <paramref name="index"/>; returns the earlier positions that hold them (-1 when this one is first).</summary>
    public async Task<(long IdOwner, long TextOwner)> ClaimUniqueAsync(string id, string captionId, string? textHash, long index, CancellationToken cancellationToken = default)
    {
        var idTask = ClaimAsync(RunKeys.Ids(id), captionId, index, cancellationToken);
        var textTask = textHash is null ? Task.FromResult(-1L) : ClaimAsync(RunKeys.Texts(id), textHash, index, cancellationToken);
        return (await idTask.ConfigureAwait(false), await textTask.ConfigureAwait(false));
    }

    private async Task<long> ClaimAsync(string key, string field, long index, CancellationToken cancellationToken)
    {
        // The owner is whoever set it first; re-reading the same record (a resumed ingestion)
        // finds itself as the owner, so it is not dropped as its own duplicate.
        var reply = await _connection.ExecuteAsync("EVAL", cancellationToken, ClaimScript, 1, key, field, index).ConfigureAwait(false);
        var owner = long.Parse(reply.AsString()!, CultureInfo.InvariantCulture);
        return owner == index ? -1 : owner;
    }

    private static IReadOnlyList<string> Strings(RedisResult reply) => reply.AsArray().Select(r => r.AsString()!).ToList();

    private static string Check(string id) =>
        RunConfigs.IsValidId(id) ? id : throw new RunConfigException("id", $"'{id}' is not a valid run id.");

    private long NowMs() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private static DateTimeOffset FromMs(RedisResult? value) =>
        long.TryParse(value?.AsString(), NumberStyles.None, CultureInfo.InvariantCulture, out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : DateTimeOffset.UnixEpoch;

    private static string StateText(RunState state) => ((int)state).ToString(CultureInfo.InvariantCulture);

    private static RunState ParseState(string? text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? (RunState)n : RunState.Unspecified;
}
