using System.Collections.Concurrent;
using SynthVlm.Protos.V1;

namespace SynthVlm.Runs;

/// <summary>
/// Answers "should work for this run still be done?" for stream handlers without a Redis round
/// trip per entry: a run's state is re-read at most every <c>maxAge</c>. A run that is cancelled,
/// failed, completed or unknown is not live, so its remaining entries are acknowledged without work.
/// </summary>
public sealed class RunStateCache
{
    private readonly Func<string, CancellationToken, Task<RunState?>> _read;
    private readonly TimeSpan _maxAge;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, (RunState? State, long Ticks)> _states = new(StringComparer.Ordinal);

    /// <summary>Creates the cache over <paramref name="read"/> (usually <see cref="RunStore.GetStateAsync"/>).</summary>
    public RunStateCache(Func<string, CancellationToken, Task<RunState?>> read, TimeSpan? maxAge = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(read);
        _read = read;
        _maxAge = maxAge ?? TimeSpan.FromMilliseconds(500);
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The run's state (cached), or null when Redis does not know the run.</summary>
    public async Task<RunState?> GetAsync(string run, CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow().UtcTicks;
        if (_states.TryGetValue(run, out var cached) && now - cached.Ticks < _maxAge.Ticks)
        {
            return cached.State;
        }
        var state = await _read(run, cancellationToken).ConfigureAwait(false);
        _states[run] = (state, now);
        return state;
    }

    /// <summary>Whether the run is pending, running or writing.</summary>
    public async Task<bool> IsLiveAsync(string run, CancellationToken cancellationToken = default) =>
        await GetAsync(run, cancellationToken).ConfigureAwait(false) is RunState.Pending or RunState.Running or RunState.Writing;

    /// <summary>
    /// A token cancelled (within about the cache age) when the run stops being live, linked to
    /// <paramref name="cancellationToken"/>; dispose the returned source when the work is done.
    /// </summary>
    public CancellationTokenSource Watch(string run, CancellationToken cancellationToken)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _ = PollAsync(run, source);
        return source;
    }

    private async Task PollAsync(string run, CancellationTokenSource source)
    {
        try
        {
            while (!source.IsCancellationRequested)
            {
                await Task.Delay(_maxAge, source.Token).ConfigureAwait(false);
                if (!await IsLiveAsync(run, source.Token).ConfigureAwait(false))
                {
                    await source.CancelAsync().ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The work finished or the run stopped.
        }
        catch (ObjectDisposedException)
        {
            // The work finished and disposed the source.
        }
        catch (Exception e) when (Streams.RedisConnections.IsRedisFailure(e))
        {
            // Redis is away: the work goes on; it fails on its own if Redis stays away.
        }
    }
}
