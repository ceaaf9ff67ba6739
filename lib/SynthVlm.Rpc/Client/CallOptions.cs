namespace SynthVlm.Rpc;

/// <summary>Per-call options: metadata, deadline and cancellation.</summary>
public readonly record struct CallOptions
{
    /// <summary>Creates options from their parts.</summary>
    public CallOptions(Metadata? headers = null, DateTime? deadline = null, CancellationToken cancellationToken = default)
    {
        Headers = headers;
        Deadline = deadline;
        CancellationToken = cancellationToken;
    }

    /// <summary>Request metadata sent as headers.</summary>
    public Metadata? Headers { get; init; }

    /// <summary>The UTC instant after which the call fails with DEADLINE_EXCEEDED; sent as <c>grpc-timeout</c>. Null means none.</summary>
    public DateTime? Deadline { get; init; }

    /// <summary>Cancels the call (RST_STREAM CANCEL); the call then fails with CANCELLED.</summary>
    public CancellationToken CancellationToken { get; init; }
}
