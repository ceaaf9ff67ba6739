namespace SynthVlm;

/// <summary>One SynthVlm service: its resource name and the stream its consumer group reads.</summary>
/// <param name="Name">Resource name, also OTEL_SERVICE_NAME and the key in <c>services__{name}__grpc__0</c>.</param>
/// <param name="ProjectName">The project (folder and assembly) name.</param>
/// <param name="InputStream">The stream this stage consumes.</param>
/// <param name="OutputStream">The stream this stage produces into, or null for the last stage.</param>
public sealed record ServiceInfo(string Name, string ProjectName, string InputStream, string? OutputStream)
{
    /// <summary>The consumer group name this stage uses on its input stream.</summary>
    public string ConsumerGroup => Name;
}

/// <summary>The seven SynthVlm services, each spelled once (see <see cref="All"/> for their order).</summary>
public static class KnownServices
{
    /// <summary>Recaptioning: a run's images captioned by a VLM into the run's caption pool (it enters at the front).</summary>
    public static readonly ServiceInfo Recaption = new("recaption", "RecaptionService", KnownStreams.Images, KnownStreams.Captions);

    /// <summary>Caption curation.</summary>
    public static readonly ServiceInfo Curation = new("curation", "CurationService", KnownStreams.Captions, KnownStreams.Curated);

    /// <summary>Image generation (SDXL).</summary>
    public static readonly ServiceInfo Diffusion = new("diffusion", "DiffusionService", KnownStreams.Curated, KnownStreams.Generated);

    /// <summary>CLIPScore + SSIM scoring.</summary>
    public static readonly ServiceInfo Scoring = new("scoring", "ScoringService", KnownStreams.Generated, KnownStreams.Scored);

    /// <summary>Best-of-N and global top-K selection, dataset writing.</summary>
    public static readonly ServiceInfo Selection = new("selection", "SelectionService", KnownStreams.Scored, KnownStreams.Datasets);

    /// <summary>LLaVA training.</summary>
    public static readonly ServiceInfo Training = new("training", "TrainingService", KnownStreams.Datasets, KnownStreams.Checkpoints);

    /// <summary>Evaluation.</summary>
    public static readonly ServiceInfo Eval = new("eval", "EvalService", KnownStreams.Checkpoints, null);

    /// <summary>
    /// All services: the pipeline's stages in order, then recaption (the optional stage at the front
    /// of runs that start from images), last so that the stages' manifest numbering stays as it was.
    /// </summary>
    public static IReadOnlyList<ServiceInfo> All { get; } = [Curation, Diffusion, Scoring, Selection, Training, Eval, Recaption];

    /// <summary>Finds a service by its resource name (case-insensitive).</summary>
    /// <returns>The service, or null when no service has that name.</returns>
    public static ServiceInfo? Find(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
}
