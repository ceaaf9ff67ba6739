using Microsoft.Extensions.Logging;

namespace SynthVlm.Onnx;

/// <summary>
/// How a session is created. A plain options object: it is turned into native OrtSessionOptions
/// each time a session is created, so one instance can be shared and mutated freely between loads.
/// </summary>
public sealed class SessionOptions
{
    /// <summary>Threads inside one operator; 0 lets ORT choose (one per physical core).</summary>
    public int IntraOpThreads { get; set; }

    /// <summary>Threads across operators (only used with <see cref="ParallelExecution"/>); 0 lets ORT choose.</summary>
    public int InterOpThreads { get; set; }

    /// <summary>Graph optimization level.</summary>
    public GraphOptimizationLevel OptimizationLevel { get; set; } = GraphOptimizationLevel.All;

    /// <summary>Whether the CPU memory arena is used (faster repeated runs, memory kept).</summary>
    public bool EnableMemoryArena { get; set; } = true;

    /// <summary>Runs independent branches of the graph in parallel (ORT_PARALLEL).</summary>
    public bool ParallelExecution { get; set; }

    /// <summary>The execution provider to use.</summary>
    public ExecutionProvider Provider { get; set; } = ExecutionProvider.Cpu;

    /// <summary>The GPU for <see cref="ExecutionProvider.Cuda"/>.</summary>
    public int CudaDeviceId { get; set; }

    /// <summary>What to do when <see cref="Provider"/> cannot be used.</summary>
    public ProviderFallback Fallback { get; set; } = ProviderFallback.Error;

    /// <summary>Session config entries (AddSessionConfigEntry), for example "session.intra_op.allow_spinning" = "0".</summary>
    public IDictionary<string, string> ConfigEntries { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// The folder external-data files are read from when the model comes from bytes
    /// (<see cref="InferenceSession.FromBytes"/>); models loaded from a path use their own folder.
    /// </summary>
    public string? ExternalDataFolder { get; set; }

    /// <summary>Receives session-level messages (provider fallback, load summary).</summary>
    public ILogger? Logger { get; set; }

    /// <summary>Key of the session config entry naming the external-data folder for in-memory models.</summary>
    public const string ExternalDataFolderConfigKey = "session.model_external_initializers_file_folder_path";
}
