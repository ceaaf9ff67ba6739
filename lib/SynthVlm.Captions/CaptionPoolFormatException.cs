namespace SynthVlm.Captions;

/// <summary>
/// A problem with a caption pool as a whole (missing file, not a JSON array, no caption column), as opposed to a bad
/// record, which becomes a <see cref="PoolReject"/>. The message names the file and the problem.
/// </summary>
public sealed class CaptionPoolFormatException : Exception
{
    /// <summary>Creates the exception with a generic message.</summary>
    public CaptionPoolFormatException()
        : base("The caption pool cannot be read.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What is wrong.</param>
    public CaptionPoolFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="innerException">The underlying failure.</param>
    public CaptionPoolFormatException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    private CaptionPoolFormatException(string path, string problem, Exception? innerException)
        : base($"Caption pool '{path}': {problem}", innerException)
    {
        PoolPath = path;
    }

    /// <summary>The pool's path, when the exception came from reading one.</summary>
    public string? PoolPath { get; }

    internal static CaptionPoolFormatException For(string path, string problem, Exception? inner = null) => new(path, problem, inner);
}
