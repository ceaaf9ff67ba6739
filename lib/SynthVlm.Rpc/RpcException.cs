namespace SynthVlm.Rpc;

/// <summary>
/// A call ended with a non-OK status. Handlers throw it to answer with that status and
/// trailers; clients receive it with the status, detail and trailers the server sent.
/// </summary>
public class RpcException : Exception
{
    /// <summary>Creates an exception for <paramref name="status"/> with no trailers.</summary>
    public RpcException(RpcStatus status)
        : this(status, new Metadata())
    {
    }

    /// <summary>Creates an exception for <paramref name="status"/> carrying <paramref name="trailers"/>.</summary>
    public RpcException(RpcStatus status, Metadata trailers)
        : this(status, trailers, null)
    {
    }

    /// <summary>Creates an exception for <paramref name="status"/> caused by <paramref name="innerException"/>.</summary>
    public RpcException(RpcStatus status, Metadata trailers, Exception? innerException)
        : base(status.ToString(), innerException)
    {
        ArgumentNullException.ThrowIfNull(trailers);
        Status = status;
        Trailers = trailers;
    }

    /// <summary>Creates an exception with the given code and detail.</summary>
    public RpcException(RpcStatusCode code, string detail)
        : this(new RpcStatus(code, detail))
    {
    }

    /// <summary>Creates an exception with status <see cref="RpcStatusCode.Unknown"/>.</summary>
    public RpcException()
        : this(new RpcStatus(RpcStatusCode.Unknown, string.Empty))
    {
    }

    /// <summary>Creates an exception with status <see cref="RpcStatusCode.Unknown"/> and <paramref name="message"/> as detail.</summary>
    public RpcException(string message)
        : this(new RpcStatus(RpcStatusCode.Unknown, message))
    {
    }

    /// <summary>Creates an exception with status <see cref="RpcStatusCode.Unknown"/>, <paramref name="message"/> as detail and an inner exception.</summary>
    public RpcException(string message, Exception innerException)
        : this(new RpcStatus(RpcStatusCode.Unknown, message), new Metadata(), innerException)
    {
    }

    /// <summary>The status of the call.</summary>
    public RpcStatus Status { get; }

    /// <summary>The status code of the call.</summary>
    public RpcStatusCode StatusCode => Status.Code;

    /// <summary>The trailers sent (server) or received (client) with the status.</summary>
    public Metadata Trailers { get; }
}
