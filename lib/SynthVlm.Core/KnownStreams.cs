namespace SynthVlm;

/// <summary>The Redis streams that carry work between stages (DESIGN.md §3), each spelled once.</summary>
public static class KnownStreams
{
    /// <summary>Prefix of every SynthVlm key in Redis.</summary>
    public const string Prefix = "synthvlm:";

    /// <summary>Runs that start from images, waiting for recaptioning (one entry per run, kind RecaptionRequest).</summary>
    public const string Images = Prefix + "images";

    /// <summary>Caption pool entries waiting for curation.</summary>
    public const string Captions = Prefix + "captions";

    /// <summary>Curated captions waiting for image generation.</summary>
    public const string Curated = Prefix + "curated";

    /// <summary>Generated images (by reference) waiting for scoring.</summary>
    public const string Generated = Prefix + "generated";

    /// <summary>Scored pairs waiting for selection.</summary>
    public const string Scored = Prefix + "scored";

    /// <summary>Written datasets waiting for training.</summary>
    public const string Datasets = Prefix + "datasets";

    /// <summary>Trained checkpoints (model folders) waiting for evaluation.</summary>
    public const string Checkpoints = Prefix + "checkpoints";

    /// <summary>Evaluated checkpoints: the summary of a run's model on the benchmarks.</summary>
    public const string Evaluations = Prefix + "evaluations";

    /// <summary>Dead letters: entries that failed too often, with the reason.</summary>
    public const string Dead = Prefix + "dead";
}

/// <summary>The fields of a stream entry (DESIGN.md §3), each spelled once.</summary>
public static class KnownStreamFields
{
    /// <summary>The run the entry belongs to.</summary>
    public const string Run = "run";

    /// <summary>The payload's kind (protobuf message name).</summary>
    public const string Kind = "kind";

    /// <summary>The protobuf-encoded payload.</summary>
    public const string Data = "data";

    /// <summary>W3C trace context of the producer's span.</summary>
    public const string TraceParent = "traceparent";
}
