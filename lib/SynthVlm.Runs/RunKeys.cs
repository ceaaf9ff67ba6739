namespace SynthVlm.Runs;

/// <summary>The Redis keys of run state (each spelled once). The run id is validated before it reaches a key.</summary>
public static class RunKeys
{
    /// <summary>Sorted set of every run id, scored by creation time (ms).</summary>
    public const string All = KnownStreams.Prefix + "runs";

    /// <summary>Set of runs not yet finished.</summary>
    public const string Active = KnownStreams.Prefix + "runs:active";

    /// <summary>Set of runs whose pool still has to be ingested.</summary>
    public const string Ingest = KnownStreams.Prefix + "runs:ingest";

    /// <summary>Hash of the run: config, state, reason, timestamps, ingestion checkpoint, dataset.</summary>
    public static string Run(string id) => $"{KnownStreams.Prefix}run:{id}";

    /// <summary>A progress bitmap of one stage.</summary>
    public static string Progress(string id, string stage, ProgressMark mark) => $"{KnownStreams.Prefix}run:{id}:{stage}:{mark.ToString().ToLowerInvariant()}";

    /// <summary>Hash caption id → first pool position (duplicate ids).</summary>
    public static string Ids(string id) => $"{KnownStreams.Prefix}run:{id}:ids";

    /// <summary>Hash normalised-caption hash → first pool position (duplicate captions).</summary>
    public static string Texts(string id) => $"{KnownStreams.Prefix}run:{id}:texts";

    /// <summary>A lease held by one replica while it does a run's single-owner work (ingest, finalize).</summary>
    public static string Lease(string id, string name) => $"{KnownStreams.Prefix}run:{id}:lease:{name}";

    /// <summary>Scratch key for counting the union of two bitmaps.</summary>
    internal static string Scratch(string id, string stage) => $"{KnownStreams.Prefix}run:{id}:{stage}:scratch:{Guid.NewGuid():N}";

    /// <summary>Every key of a run except its hash (for deletion).</summary>
    public static IEnumerable<string> Auxiliary(string id)
    {
        foreach (var stage in RunStages.All)
        {
            foreach (var mark in Enum.GetValues<ProgressMark>())
            {
                yield return Progress(id, stage, mark);
            }
        }
        yield return Ids(id);
        yield return Texts(id);
    }

    /// <summary>Hash fields of <see cref="Run(string)"/>.</summary>
    public static class Fields
    {
        /// <summary>The RunConfig, protobuf bytes.</summary>
        public const string Config = "config";

        /// <summary>The RunState as its number.</summary>
        public const string State = "state";

        /// <summary>Why it failed, was cancelled, or is empty.</summary>
        public const string Reason = "reason";

        /// <summary>Unix ms.</summary>
        public const string Created = "created";

        /// <summary>Unix ms.</summary>
        public const string Updated = "updated";

        /// <summary>Pool records read so far (ingestion checkpoint: records before it are enqueued).</summary>
        public const string IngestNext = "ingest_next";

        /// <summary>"1" when the whole pool has been read.</summary>
        public const string IngestDone = "ingest_done";

        /// <summary>The dataset folder.</summary>
        public const string Dataset = "dataset";

        /// <summary>"pending" while captions with images wait for the top-fraction decision, then "released".</summary>
        public const string Barrier = "curation_barrier";

        /// <summary>Pairs in the dataset.</summary>
        public const string Selected = "selected";

        /// <summary>The caption pool RecaptionService wrote for a run that starts from images (ingested in place of the config's captions).</summary>
        public const string RecaptionPool = "recaption_pool";

        /// <summary>The W3C traceparent of the span recorded when the run was submitted (the run's trace root).</summary>
        public const string TraceParent = "traceparent";
    }
}
