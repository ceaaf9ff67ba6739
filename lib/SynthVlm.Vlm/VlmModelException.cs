namespace SynthVlm.Vlm;

/// <summary>
/// A model folder, configuration or input that the VLM cannot use; the message names the file,
/// tensor, field or sample and says what was expected and what was found.
/// </summary>
public sealed class VlmModelException : Exception
{
    /// <summary>Creates the exception with its message.</summary>
    public VlmModelException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its message and cause.</summary>
    public VlmModelException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with the default message.</summary>
    public VlmModelException()
    {
    }
}
