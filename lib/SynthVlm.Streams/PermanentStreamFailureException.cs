namespace SynthVlm.Streams;

/// <summary>
/// Thrown by a stream handler for an entry that can never succeed (its data is malformed, the
/// image it references does not decode): the consumer dead-letters it at once with this
/// message as the reason instead of retrying it <see cref="StreamConsumerOptions.MaxDeliveries"/> times.
/// </summary>
public sealed class PermanentStreamFailureException : Exception
{
    /// <summary>Creates the exception with the reason recorded in the dead letter.</summary>
    public PermanentStreamFailureException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with the reason and the underlying error.</summary>
    public PermanentStreamFailureException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public PermanentStreamFailureException() : base("The entry can never be processed.")
    {
    }
}
