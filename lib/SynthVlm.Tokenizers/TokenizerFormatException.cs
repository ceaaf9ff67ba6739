namespace SynthVlm.Tokenizers;

/// <summary>A tokenizer folder or file that cannot be used; the message names the file and the problem.</summary>
public sealed class TokenizerFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TokenizerFormatException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public TokenizerFormatException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public TokenizerFormatException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for <paramref name="path"/>: "path: problem".</summary>
    public TokenizerFormatException(string path, string problem, Exception? innerException = null)
        : base($"{path}: {problem}", innerException)
    {
        FilePath = path;
    }

    /// <summary>The file at fault, when known.</summary>
    public string? FilePath { get; }
}
