namespace SynthVlm.Blip;

/// <summary>A BLIP model folder is missing a file, or a file does not match what the code expects.</summary>
public sealed class BlipModelException : Exception
{
    /// <summary>Creates the exception; <paramref name="path"/> is the file or folder at fault.</summary>
    public BlipModelException(string path, string problem, Exception? innerException = null)
        : base($"{path}: {problem}", innerException)
    {
        Path = path;
        Problem = problem;
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public BlipModelException() : base("The BLIP model folder is not usable.")
    {
        Path = "";
        Problem = Message;
    }

    /// <summary>Creates the exception with a message.</summary>
    public BlipModelException(string message) : base(message)
    {
        Path = "";
        Problem = message;
    }

    /// <summary>Creates the exception with a message and the underlying error.</summary>
    public BlipModelException(string message, Exception innerException) : base(message, innerException)
    {
        Path = "";
        Problem = message;
    }

    /// <summary>The file or folder at fault.</summary>
    public string Path { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }
}
