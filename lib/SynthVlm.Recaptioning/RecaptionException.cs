namespace SynthVlm.Recaptioning;

/// <summary>A recaption job cannot go on (an output it cannot resume, a limit reached); the message names the file or setting.</summary>
public sealed class RecaptionException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RecaptionException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public RecaptionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public RecaptionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
