namespace SynthVlm.Onnx;

/// <summary>An error reported by ONNX Runtime (or by the binding around it), with ORT's error code.</summary>
public class OnnxRuntimeException : Exception
{
    /// <summary>Creates an exception with <see cref="OrtErrorCode.Fail"/>.</summary>
    public OnnxRuntimeException()
        : this(OrtErrorCode.Fail, "ONNX Runtime call failed.")
    {
    }

    /// <summary>Creates an exception with <see cref="OrtErrorCode.Fail"/>.</summary>
    public OnnxRuntimeException(string message)
        : this(OrtErrorCode.Fail, message)
    {
    }

    /// <summary>Creates an exception with <see cref="OrtErrorCode.Fail"/> wrapping another.</summary>
    public OnnxRuntimeException(string message, Exception innerException)
        : this(OrtErrorCode.Fail, message, innerException)
    {
    }

    /// <summary>Creates an exception with an ORT error code.</summary>
    public OnnxRuntimeException(OrtErrorCode code, string message, Exception? innerException = null)
        : base(message, innerException) => Code = code;

    /// <summary>The ORT error code.</summary>
    public OrtErrorCode Code { get; }
}

/// <summary>
/// The ONNX Runtime native library could not be found, loaded, or is not a usable ONNX Runtime
/// (no OrtGetApiBase export, or too old for API version 30). The message is one line that says
/// where the binding looked and how to fix it.
/// </summary>
public sealed class OnnxRuntimeNotFoundException : OnnxRuntimeException
{
    /// <summary>Creates the exception.</summary>
    public OnnxRuntimeNotFoundException()
        : base(OrtErrorCode.NoSuchFile, "ONNX Runtime native library not found.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public OnnxRuntimeNotFoundException(string message)
        : base(OrtErrorCode.NoSuchFile, message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public OnnxRuntimeNotFoundException(string message, Exception innerException)
        : base(OrtErrorCode.NoSuchFile, message, innerException)
    {
    }
}
