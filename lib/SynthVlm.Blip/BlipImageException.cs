namespace SynthVlm.Blip;

/// <summary>
/// An image given to the image–text matching filter by path could not be read or decoded. The
/// message names the file; the caller records it against the caption and goes on.
/// </summary>
public sealed class BlipImageException : Exception
{
    /// <summary>Creates the exception for <paramref name="imagePath"/>.</summary>
    public BlipImageException(string imagePath, string problem, Exception? innerException = null)
        : base($"{imagePath}: {problem}", innerException)
    {
        ImagePath = imagePath;
        Problem = problem;
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public BlipImageException() : base("An image could not be decoded.")
    {
        ImagePath = "";
        Problem = Message;
    }

    /// <summary>Creates the exception with a message.</summary>
    public BlipImageException(string message) : base(message)
    {
        ImagePath = "";
        Problem = message;
    }

    /// <summary>Creates the exception with a message and the underlying error.</summary>
    public BlipImageException(string message, Exception innerException) : base(message, innerException)
    {
        ImagePath = "";
        Problem = message;
    }

    /// <summary>The image file at fault.</summary>
    public string ImagePath { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }
}
