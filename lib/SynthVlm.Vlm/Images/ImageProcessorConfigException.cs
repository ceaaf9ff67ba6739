namespace SynthVlm.Vlm.Images;

/// <summary>A preprocessor_config.json or config.json is missing, unreadable, or holds a value the image preprocessing cannot honour.</summary>
public sealed class ImageProcessorConfigException : Exception
{
    /// <summary>Creates the exception; <paramref name="path"/> is the file at fault.</summary>
    public ImageProcessorConfigException(string path, string problem, Exception? innerException = null)
        : base($"{path}: {problem}", innerException)
    {
        Path = path;
        Problem = problem;
    }

    /// <summary>Creates the exception with a message.</summary>
    public ImageProcessorConfigException() : base("The image processor configuration is not usable.")
    {
        Path = "";
        Problem = Message;
    }

    /// <summary>Creates the exception with a message.</summary>
    public ImageProcessorConfigException(string message) : base(message)
    {
        Path = "";
        Problem = message;
    }

    /// <summary>Creates the exception with a message and the underlying error.</summary>
    public ImageProcessorConfigException(string message, Exception innerException) : base(message, innerException)
    {
        Path = "";
        Problem = message;
    }

    /// <summary>The file at fault.</summary>
    public string Path { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }
}
