namespace SynthVlm.Onnx;

/// <summary>
/// The configured execution provider cannot be used and <see cref="ProviderFallback.Error"/> forbids
/// running on the CPU. The message is one line naming the model, the missing libraries and the fix.
/// </summary>
public sealed class OnnxProviderUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public OnnxProviderUnavailableException()
        : base("The configured ONNX Runtime execution provider is not available.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public OnnxProviderUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and ONNX Runtime's error.</summary>
    public OnnxProviderUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The model whose session could not use the provider.</summary>
    public string? Model { get; init; }

    /// <summary>The libraries that could not be loaded (empty when all load and the device itself failed).</summary>
    public IReadOnlyList<string> MissingLibraries { get; init; } = [];
}
