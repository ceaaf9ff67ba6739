using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using SynthVlm.Protos.V1;
using StackExchange.Redis;

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
        if ARGV[5] == '1' then redis.call('SADD', KEYS[4], ARGV[3]) end
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

    private readonly IDatabaseAsync _db;
    private readonly TimeProvider _time;

    /// <summary>Creates a store over <paramref name="db"/> (the service's shared multiplexer's database).</summary>
    public RunStore(IDatabaseAsync db, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(db);
        _db = db;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Whether the state is final.</summary>
    public static bool IsFinished(RunState state) => state is RunState.Completed or RunState.Failed or RunState.Cancelled;

    /// <summary>
    /// Records a normalised config as a new PENDING run (listed as active and waiting for ingestion;
    /// a run that starts from images waits for its pool first, see <see cref="SetRecaptionedPoolAsync"/>).
    /// Returns the run and whether it was created; an existing run with an equal config is
    /// returned as it is, one with a different config throws <see cref="RunAlreadyExistsException"/>.
    /// </summary>
    public async Task<(Run Run, bool Created)> SubmitAsync(RunConfig config, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        var id = Check(config.Id);
        var now = NowMs();
        var reply = await _db.ScriptEvaluateAsync(SubmitScript,
            [RunKeys.Run(id), RunKeys.All, RunKeys.Active, RunKeys.Ingest],
            [config.ToByteArray(), now, id, StateText(RunState.Pending), WaitsForRecaption(config) ? "0" : "1"]).WaitAsync(cancellationToken).ConfigureAwait(false);
        var created = (long)reply[0] == 1;
        if (!created)
        {
            var existing = RunConfig.Parser.ParseFrom((byte[])reply[1]!);
            if (!existing.Equals(config))
            {
                throw new RunAlreadyExistsException(id);
            }
        }
        var run = await GetAsync(id, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"run '{id}' vanished right after it was submitted.");
        return (run, created);
    }

    /// <summary>Whether the run starts from images and has no pool until RecaptionService writes one.</summary>
    public static bool WaitsForRecaption(RunConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.Captions.Length == 0 && config.Recaption is { Images.Length: > 0 };
    }

    /// <summary>
    /// Records the pool RecaptionService wrote for a run that starts from images and puts the run on
    /// the ingestion list, so curation ingests it as any pool (idempotent).
    /// </summary>
    public async Task SetRecaptionedPoolAsync(string id, string pool, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(pool);
        await _db.HashSetAsync(RunKeys.Run(Check(id)), [new(RunKeys.Fields.RecaptionPool, pool), new(RunKeys.Fields.Updated, NowMs())]).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (await GetStateAsync(id, cancellationToken).ConfigureAwait(false) is { } state && !IsFinished(state))
        {
            await _db.SetAddAsync(RunKeys.Ingest, id).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The pool a run ingests: its config's captions, else the recaptioned pool, else null (not written yet).</summary>
    public async Task<string?> GetPoolAsync(string id, RunConfig config, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Captions.Length > 0)
        {
            return config.Captions;
        }
        var reply = await _db.HashGetAsync(RunKeys.Run(Check(id)), RunKeys.Fields.RecaptionPool).WaitAsync(cancellationToken).ConfigureAwait(false);
        return reply.IsNull ? null : reply.ToString();
    }

    /// <summary>The run with its per-stage progress, or null when Redis does not know it.</summary>
    public async Task<Run?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        if (!RunConfigs.IsValidId(id))
        {
            return null;
        }
        var hash = await _db.HashGetAllAsync(RunKeys.Run(id)).WaitAsync(cancellationToken).ConfigureAwait(false);
        var fields = new Dictionary<string, RedisValue>(hash.Length, StringComparer.Ordinal);
        foreach (var entry in hash)
        {
            fields[entry.Name.ToString()] = entry.Value;
        }
        if (!fields.TryGetValue(RunKeys.Fields.Config, out var configBytes))
        {
            return null;
        }
        var run = new Run
        {
            Id = id,
            Config = RunConfig.Parser.ParseFrom((byte[])configBytes!),
            State = ParseState(Field(fields, RunKeys.Fields.State)),
            Reason = Field(fields, RunKeys.Fields.Reason) ?? "",
            Created = Timestamp.FromDateTimeOffset(FromMs(Field(fields, RunKeys.Fields.Created))),
            Updated = Timestamp.FromDateTimeOffset(FromMs(Field(fields, RunKeys.Fields.Updated))),
            Dataset = Field(fields, RunKeys.Fields.Dataset) ?? "",
            Selected = long.TryParse(Field(fields, RunKeys.Fields.Selected), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0,
            TraceId = RunTelemetry.TraceIdOf(Field(fields, RunKeys.Fields.TraceParent)),
        };
        var ingestDone = Field(fields, RunKeys.Fields.IngestDone) == "1";
        var barrierPending = Field(fields, RunKeys.Fields.Barrier) == "pending";
        run.Stages.AddRange(await GetProgressAsync(id, ingestDone, barrierPending, cancellationToken).ConfigureAwait(false));
        return run;
    }

    /// <summary>Records the run's trace root unless it has one already (a resubmission keeps the first).</summary>
    public Task SetTraceParentAsync(string id, string traceParent, CancellationToken cancellationToken = default) =>
        _db.HashSetAsync(RunKeys.Run(Check(id)), RunKeys.Fields.TraceParent, traceParent, When.NotExists).WaitAsync(cancellationToken);

    /// <summary>The run's trace root (a W3C traceparent), or null when none was recorded.</summary>
    public async Task<string?> GetTraceParentAsync(string id, CancellationToken cancellationToken = default)
    {
        var reply = await _db.HashGetAsync(RunKeys.Run(Check(id)), RunKeys.Fields.TraceParent).WaitAsync(cancellationToken).ConfigureAwait(false);
        return reply.IsNull ? null : reply.ToString();
    }

    /// <summary>The run's config, or null when Redis does not know the run.</summary>
    public async Task<RunConfig?> GetConfigAsync(string id, CancellationToken cancellationToken = default)
    {
        if (!RunConfigs.IsValidId(id))
        {
            return null;
        }
        var reply = await _db.HashGetAsync(RunKeys.Run(id), RunKeys.Fields.Config).WaitAsync(cancellationToken).ConfigureAwait(false);
        return reply.IsNull ? null : RunConfig.Parser.ParseFrom((byte[])reply!);
    }

    /// <summary>The run's state, or null when Redis does not know the run.</summary>
    public async Task<RunState?> GetStateAsync(string id, CancellationToken cancellationToken = default)
    {
        if (!RunConfigs.IsValidId(id))
        {
            return null;
        }
        var reply = await _db.HashGetAsync(RunKeys.Run(id), RunKeys.Fields.State).WaitAsync(cancellationToken).ConfigureAwait(false);
        return reply.IsNull ? null : ParseState(reply.ToString());
    }

    /// <summary>Per-stage progress computed from the bitmaps (see <see cref="StageProgress"/> for the done rule).</summary>
    /// <param name="id">The run.</param>
    /// <param name="ingestDone">Whether the pool has been read to the end.</param>
    /// <param name="barrierPending">Whether captions with images still wait for the curation top-fraction decision (curation is not done until it is made).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public async Task<IReadOnlyList<StageProgress>> GetProgressAsync(string id, bool ingestDone, bool barrierPending = false, CancellationToken cancellationToken = default)
    {
        var keys = new List<RedisKey>(RunStages.All.Count * 5);
        foreach (var stage in RunStages.All)
        {
            keys.Add(RunKeys.Progress(id, stage, ProgressMark.Emitted));
            keys.Add(RunKeys.Progress(id, stage, ProgressMark.Processed));
            keys.Add(RunKeys.Progress(id, stage, ProgressMark.Dropped));
            keys.Add(RunKeys.Progress(id, stage, ProgressMark.Dead));
            keys.Add(RunKeys.Scratch(id, stage));
        }
        var reply = await _db.ScriptEvaluateAsync(ProgressScript, [.. keys]).WaitAsync(cancellationToken).ConfigureAwait(false);
        var result = new List<StageProgress>(RunStages.All.Count);
        var upstreamDone = true;
        for (var s = 0; s < RunStages.All.Count; s++)
        {
            var stage = new StageProgress
            {
                Stage = RunStages.All[s],
                Emitted = (long)reply[(s * 5) + 0],
                Processed = (long)reply[(s * 5) + 1],
                Dropped = (long)reply[(s * 5) + 2],
                DeadLettered = (long)reply[(s * 5) + 3],
                EtaSeconds = -1,
            };
            if (s == 0)
            {
                // Every record read is both sent into and finished by ingestion.
                stage.Emitted = stage.Processed;
            }
            var finished = (long)reply[(s * 5) + 4];
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
        cancellationToken.ThrowIfCancellationRequested();
        return _db.StringSetBitAsync(RunKeys.Progress(id, stage, mark), item, true);
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
        var args = new List<RedisValue> { StateText(state), NowMs(), reason ?? "" };
        args.AddRange(from.Select(s => (RedisValue)StateText(s)));
        var moved = (long)await _db.ScriptEvaluateAsync(TransitionScript, [RunKeys.Run(Check(id))], [.. args]).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (moved < 0)
        {
            throw new KeyNotFoundException($"run '{id}' is not known to Redis.");
        }
        if (moved == 1 && IsFinished(state))
        {
            await _db.SetRemoveAsync(RunKeys.Active, id).ConfigureAwait(false);
            await _db.SetRemoveAsync(RunKeys.Ingest, id).ConfigureAwait(false);
            // The duplicate sets hold a field per caption; they only matter while the pool is read.
            await _db.KeyDeleteAsync([RunKeys.Ids(id), RunKeys.Texts(id)]).ConfigureAwait(false);
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
        _db.HashSetAsync(RunKeys.Run(Check(id)), [new(RunKeys.Fields.IngestNext, next), new(RunKeys.Fields.Updated, NowMs())]).WaitAsync(cancellationToken);

    /// <summary>The ingestion checkpoint (0 when none).</summary>
    public async Task<long> GetIngestCheckpointAsync(string id, CancellationToken cancellationToken = default)
    {
        var reply = await _db.HashGetAsync(RunKeys.Run(Check(id)), RunKeys.Fields.IngestNext).WaitAsync(cancellationToken).ConfigureAwait(false);
        return long.TryParse(reply.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;
    }

    /// <summary>Records that the whole pool has been read (<paramref name="records"/> records) and takes the run off the ingestion list.</summary>
    public async Task CompleteIngestAsync(string id, long records, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await _db.HashSetAsync(RunKeys.Run(Check(id)), [new(RunKeys.Fields.IngestNext, records), new(RunKeys.Fields.IngestDone, "1"), new(RunKeys.Fields.Updated, NowMs())]).ConfigureAwait(false);
        await _db.SetRemoveAsync(RunKeys.Ingest, id).ConfigureAwait(false);
    }

    /// <summary>Records that some captions wait for the curation top-fraction decision (idempotent; never undoes a release).</summary>
    public Task HoldCurationAsync(string id, CancellationToken cancellationToken = default) =>
        _db.HashSetAsync(RunKeys.Run(Check(id)), RunKeys.Fields.Barrier, "pending", When.NotExists).WaitAsync(cancellationToken);

    /// <summary>Records that the curation top-fraction decision is made and its captions are on their way.</summary>
    public Task ReleaseCurationAsync(string id, CancellationToken cancellationToken = default) =>
        _db.HashSetAsync(RunKeys.Run(Check(id)), RunKeys.Fields.Barrier, "released").WaitAsync(cancellationToken);

    /// <summary>Whether the run's curation barrier is pending.</summary>
    public async Task<bool> IsCurationHeldAsync(string id, CancellationToken cancellationToken = default) =>
        (await _db.HashGetAsync(RunKeys.Run(Check(id)), RunKeys.Fields.Barrier).WaitAsync(cancellationToken).ConfigureAwait(false)) == "pending";

    /// <summary>Marks the run COMPLETED with its dataset (when it is WRITING or RUNNING).</summary>
    public async Task<bool> CompleteAsync(string id, string dataset, long selected, string? note, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await _db.HashSetAsync(RunKeys.Run(Check(id)), [new(RunKeys.Fields.Dataset, dataset), new(RunKeys.Fields.Selected, selected)]).ConfigureAwait(false);
        return await TransitionAsync(id, RunState.Completed, note, [RunState.Running, RunState.Writing, RunState.Pending], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Ids of runs that are not finished.</summary>
    public async Task<IReadOnlyList<string>> GetActiveAsync(CancellationToken cancellationToken = default) =>
        Strings(await _db.SetMembersAsync(RunKeys.Active).WaitAsync(cancellationToken).ConfigureAwait(false));

    /// <summary>Ids of runs whose pool has not been read to the end.</summary>
    public async Task<IReadOnlyList<string>> GetIngestPendingAsync(CancellationToken cancellationToken = default) =>
        Strings(await _db.SetMembersAsync(RunKeys.Ingest).WaitAsync(cancellationToken).ConfigureAwait(false));

    /// <summary>The newest <paramref name="limit"/> run ids.</summary>
    public async Task<IReadOnlyList<string>> ListAsync(int limit, CancellationToken cancellationToken = default) =>
        Strings(await _db.SortedSetRangeByRankAsync(RunKeys.All, 0, limit - 1, Order.Descending).WaitAsync(cancellationToken).ConfigureAwait(false));

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
        var reply = await _db.ScriptEvaluateAsync(ClaimScript, [key], [field, index]).WaitAsync(cancellationToken).ConfigureAwait(false);
        var owner = long.Parse(reply.ToString(), CultureInfo.InvariantCulture);
        return owner == index ? -1 : owner;
    }

    private static IReadOnlyList<string> Strings(RedisValue[] reply) => reply.Select(r => r.ToString()).ToList();

    private static string? Field(Dictionary<string, RedisValue> fields, string name) =>
        fields.TryGetValue(name, out var value) && !value.IsNull ? value.ToString() : null;

    private static string Check(string id) =>
        RunConfigs.IsValidId(id) ? id : throw new RunConfigException("id", $"'{id}' is not a valid run id.");

    private long NowMs() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private static DateTimeOffset FromMs(string? value) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : DateTimeOffset.UnixEpoch;

    private static string StateText(RunState state) => ((int)state).ToString(CultureInfo.InvariantCulture);

    private static RunState ParseState(string? text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? (RunState)n : RunState.Unspecified;
}
