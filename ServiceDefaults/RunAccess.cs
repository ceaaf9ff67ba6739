using SynthVlm.Protos.V1;
using SynthVlm.Runs;

namespace SynthVlm.ServiceDefaults;

/// <summary>
/// Run state for a service's handlers: the <see cref="RunStore"/> over the current Redis
/// connection, a cache of run states (so a cancelled run's entries are skipped without a round
/// trip each) and the progress marks a stage sets. Entries of a run Redis does not know (work
/// put on a stream by hand, without Submit) are processed without progress marks.
/// </summary>
public sealed class RunAccess
{
    private readonly RedisClientHost _redis;

    /// <summary>Creates the access over the service's Redis client.</summary>
    public RunAccess(RedisClientHost redis)
    {
        ArgumentNullException.ThrowIfNull(redis);
        _redis = redis;
        States = new RunStateCache(async (run, ct) => await (await StoreAsync(ct).ConfigureAwait(false)).GetStateAsync(run, ct).ConfigureAwait(false));
    }

    /// <summary>Cached run states.</summary>
    public RunStateCache States { get; }

    /// <summary>A store over the current connection (the connection is replaced after a reconnect, so ask each time).</summary>
    public async Task<RunStore> StoreAsync(CancellationToken cancellationToken) =>
        new((await _redis.GetConnectionAsync(cancellationToken).ConfigureAwait(false)).GetDatabase());

    /// <summary>
    /// Whether an entry of <paramref name="run"/> should be worked on, and whether its progress is
    /// recorded: (true, true) for a live run, (true, false) for a run Redis does not know, (false, _)
    /// for a cancelled, failed or finished one.
    /// </summary>
    public async Task<(bool Work, bool Tracked)> CheckAsync(string run, CancellationToken cancellationToken)
    {
        if (!RunConfigs.IsValidId(run))
        {
            return (true, false);
        }
        var state = await States.GetAsync(run, cancellationToken).ConfigureAwait(false);
        return state switch
        {
            null => (true, false),
            RunState.Pending or RunState.Running or RunState.Writing => (true, true),
            _ => (false, true),
        };
    }

    /// <summary>Sets progress bits of a tracked run.</summary>
    public async Task MarkAsync(string run, string stage, ProgressMark mark, IEnumerable<long> items, CancellationToken cancellationToken)
    {
        var store = await StoreAsync(cancellationToken).ConfigureAwait(false);
        await store.MarkAsync(run, stage, mark, items, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Puts an entry of <paramref name="run"/> on <paramref name="stream"/> inside a span named
    /// <paramref name="spanName"/> that continues the run's trace (so the next stage's spans join it).
    /// </summary>
    public async Task AnnounceAsync(string run, string stream, string kind, byte[] data, string spanName, CancellationToken cancellationToken)
    {
        var store = await StoreAsync(cancellationToken).ConfigureAwait(false);
        using var span = RunTelemetry.Start(spanName, run, await store.GetTraceParentAsync(run, cancellationToken).ConfigureAwait(false));
        var producer = new Streams.StreamProducer((await _redis.GetConnectionAsync(cancellationToken).ConfigureAwait(false)).GetDatabase());
        await producer.ProduceAsync(stream, run, kind, data, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sets one progress bit of a tracked run.</summary>
    public Task MarkAsync(string run, string stage, ProgressMark mark, long item, CancellationToken cancellationToken) =>
        MarkAsync(run, stage, mark, [item], cancellationToken);
}
