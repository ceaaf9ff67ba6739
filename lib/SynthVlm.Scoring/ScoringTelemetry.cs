using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SynthVlm.Scoring;

/// <summary>Spans and metrics of pair scoring (ActivitySource and Meter "SynthVlm.Scoring").</summary>
public static class ScoringTelemetry
{
    /// <summary>The ActivitySource and Meter name.</summary>
    public const string Name = "SynthVlm.Scoring";

    /// <summary>Spans: "score pair" per pair, "clip batch" per model call (linked to its pairs).</summary>
    public static readonly ActivitySource ActivitySource = new(Name);

    private static readonly Meter Meter = new(Name);

    /// <summary>Pairs scored (tag outcome = ok | invalid | failed).</summary>
    public static readonly Counter<long> Pairs = Meter.CreateCounter<long>("synthvlm.scoring.pairs", "{pair}", "Image-caption pairs scored, by outcome");

    /// <summary>Pairs per CLIP call.</summary>
    public static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>("synthvlm.scoring.batch.size", "{pair}", "Pairs per CLIP model call");

    /// <summary>Duration of one CLIP model call.</summary>
    public static readonly Histogram<double> InferenceDuration = Meter.CreateHistogram<double>("synthvlm.scoring.inference.duration", "s", "Duration of one CLIP model call");

    /// <summary>Decode + SSIMScore + CLIP preprocessing of one image.</summary>
    public static readonly Histogram<double> PreprocessDuration = Meter.CreateHistogram<double>("synthvlm.scoring.preprocess.duration", "s", "Decode, SSIMScore and CLIP preprocessing of one image");

    /// <summary>Whole pair, from request to scores.</summary>
    public static readonly Histogram<double> PairDuration = Meter.CreateHistogram<double>("synthvlm.scoring.pair.duration", "s", "Time to score one pair");
}
