namespace SynthVlm.Evaluation;

/// <summary>A benchmark file is missing or not in the expected format; the message names the file and the format expected.</summary>
public sealed class BenchmarkFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public BenchmarkFormatException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public BenchmarkFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public BenchmarkFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>"FILE: expected FORMAT (PROBLEM)" as one line.</summary>
    public static BenchmarkFormatException For(string file, string expected, string? problem = null) =>
        new(problem is null ? $"{file}: expected {expected}." : $"{file}: expected {expected} ({problem}).");
}
