using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace SynthVlm.Onnx;

/// <summary>
/// SynthVlm's session settings, turned into ONNX Runtime <see cref="SessionOptions"/> by
/// <see cref="OnnxSessions"/> for each session (a plain immutable record: share it freely,
/// derive variants with <c>with</c>).
/// </summary>
public sealed record OnnxSessionSettings
{
    /// <summary>The execution provider to ask for.</summary>
    public ExecutionProvider Provider { get; init; } = ExecutionProvider.Cpu;

    /// <summary>What to do when <see cref="Provider"/> cannot be used.</summary>
    public ProviderFallback Fallback { get; init; } = ProviderFallback.Error;

    /// <summary>The GPU for <see cref="ExecutionProvider.Cuda"/>.</summary>
    public int CudaDeviceId { get; init; }

    /// <summary>Threads inside one operator; 0 lets ONNX Runtime choose (one per physical core).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Threads across operators; 0 lets ONNX Runtime choose.</summary>
    public int InterOpThreads { get; init; }

    /// <summary>Graph optimisation level.</summary>
    public GraphOptimizationLevel OptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>Whether the CPU memory arena is used (faster repeated runs, memory kept).</summary>
    public bool EnableMemoryArena { get; init; } = true;

    /// <summary>
    /// The folder external-data files (<c>model.onnx_data</c>) are read from when the model comes from
    /// bytes (<see cref="OnnxSessions.FromBytes(byte[], OnnxSessionSettings?, string?)"/>); models loaded from a path use their own folder.
    /// </summary>
    public string? ExternalDataFolder { get; init; }

    /// <summary>Receives the provider-fallback warning and the load summary; null writes the warning to standard error.</summary>
    public ILogger? Logger { get; init; }
}
