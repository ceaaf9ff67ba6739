namespace SynthVlm.Onnx;

/// <summary>Where a session runs its kernels (configuration: <c>SynthVlm__Scoring__ExecutionProvider</c>, <c>SynthVlm__Diffusion__ExecutionProvider</c>).</summary>
public enum ExecutionProvider
{
    /// <summary>ONNX Runtime's CPU execution provider (always available).</summary>
    Cpu,

    /// <summary>
    /// ONNX Runtime's CUDA execution provider: needs the CUDA build of ONNX Runtime
    /// (<c>-p:SynthVlmOnnxRuntime=Cuda</c>, Microsoft.ML.OnnxRuntime.Gpu.Linux), CUDA 12 and cuDNN 9 libraries, and a GPU.
    /// </summary>
    Cuda,
}

/// <summary>What to do when the requested execution provider cannot be used (configuration: <c>…__ProviderFallback</c>).</summary>
public enum ProviderFallback
{
    /// <summary>Throw <see cref="OnnxProviderUnavailableException"/>: never run on the CPU silently.</summary>
    Error,

    /// <summary>Log one warning naming the model and what is missing, and run on the CPU.</summary>
    FallbackToCpu,
}
