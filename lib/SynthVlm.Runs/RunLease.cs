using StackExchange.Redis;
using SynthVlm.Streams;

namespace SynthVlm.Runs;

/// <summary>
/// A lease on single-owner work of a run (reading the pool, writing the dataset): taken with
/// SET NX PX, renewed in the background while held, released by its owner only. If the owner
/// dies, the lease expires and another replica takes the work over; <see cref="Lost"/> fires if a
/// renewal finds the lease gone, so the old owner stops.
/// </summary>
public sealed class RunLease : IAsyncDisposable
{
    private const string RenewScript = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
    private const string ReleaseScript = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

    private readonly IDatabaseAsync _db;
    private readonly string _key;
    private readonly string _owner;
    private readonly TimeSpan _ttl;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _renewal;

    private RunLease(IDatabaseAsync db, string key, string owner, TimeSpan ttl)
    {
        _db = db;
        _key = key;
        _owner = owner;
        _ttl = ttl;
        _renewal = RenewLoopAsync();
    }

    /// <summary>Fires when the lease could not be renewed (another replica may hold it now).</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>Takes the lease <paramref name="key"/> for <paramref name="owner"/>, or returns null when someone else holds it.</summary>
    public static async Task<RunLease?> TryAcquireAsync(IDatabaseAsync db, string key, string owner, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentOutOfRangeException.ThrowIfLessThan(ttl, TimeSpan.FromMilliseconds(100));
        var taken = await db.StringSetAsync(key, owner, ttl, When.NotExists).WaitAsync(cancellationToken).ConfigureAwait(false);
        return !taken ? null : new RunLease(db, key, owner, ttl);
    }

    private async Task RenewLoopAsync()
    {
        try
        {
            while (true)
            {
                await Task.Delay(_ttl / 3, _stop.Token).ConfigureAwait(false);
                try
                {
                    var renewed = await _db.ScriptEvaluateAsync(RenewScript, [_key], [_owner, (long)_ttl.TotalMilliseconds]).WaitAsync(_stop.Token).ConfigureAwait(false);
                    if ((long)renewed != 1)
                    {
                        await _lost.CancelAsync().ConfigureAwait(false);
                        return;
                    }
                }
                catch (Exception e) when (RedisConnections.IsRedisFailure(e))
                {
                    // Redis is down or restarting: keep trying until the lease would have expired.
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Released.
        }
    }

    /// <summary>Stops renewing and deletes the lease if this owner still holds it.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _renewal.ConfigureAwait(false);
        try
        {
            await _db.ScriptEvaluateAsync(ReleaseScript, [_key], [_owner]).ConfigureAwait(false);
        }
        catch (Exception e) when (RedisConnections.IsRedisFailure(e))
        {
            // It expires by itself.
        }
        _stop.Dispose();
        _lost.Dispose();
    }
}
