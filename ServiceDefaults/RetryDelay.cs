namespace SynthVlm.ServiceDefaults;

/// <summary>Exponential delays between attempts to reach Redis: 200 ms doubling up to 10 s.</summary>
internal struct RetryDelay
{
    private static readonly TimeSpan First = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(10);
    private TimeSpan _next;

    /// <summary>The delay before the next attempt.</summary>
    public readonly TimeSpan Peek => _next == TimeSpan.Zero ? First : _next;

    /// <summary>Waits for the next delay, then doubles it.</summary>
    public async Task WaitAsync(CancellationToken cancellationToken)
    {
        var delay = Peek;
        _next = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, Max.Ticks));
        await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
    }
}
