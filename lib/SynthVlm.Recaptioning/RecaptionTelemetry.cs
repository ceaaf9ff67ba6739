using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SynthVlm.Recaptioning;

/// <summary>Spans and metrics of recaptioning jobs (ActivitySource and Meter "SynthVlm.Recaptioning").</summary>
public static class RecaptionTelemetry
{
    /// <summary>The ActivitySource and Meter name.</summary>
    public const string Name = "SynthVlm.Recaptioning";

    /// <summary>Spans: "recaption job" (continuing the submitter's traceparent).</summary>
    public static readonly ActivitySource ActivitySource = new(Name);

    private static readonly Meter Meter = new(Name);

    /// <summary>Captions written to pools.</summary>
    public static readonly Counter<long> Captioned = Meter.CreateCounter<long>("synthvlm.recaption.captioned", "{caption}", "Captions written to caption pools");

    /// <summary>Images recorded as rejected (corrupt, huge, captioner failure, empty caption, ...).</summary>
    public static readonly Counter<long> Rejected = Meter.CreateCounter<long>("synthvlm.recaption.rejected", "{image}", "Images recorded as rejected instead of captioned");

    /// <summary>Jobs ended, by state (tag synthvlm.recaption.state).</summary>
    public static readonly Counter<long> Jobs = Meter.CreateCounter<long>("synthvlm.recaption.jobs", "{job}", "Recaption jobs ended, by state");

    /// <summary>Seconds a job ran (loading the captioner included).</summary>
    public static readonly Histogram<double> JobDuration = Meter.CreateHistogram<double>("synthvlm.recaption.job.duration", "s", "Wall time of a recaption job");

    /// <summary>The tag naming a job's final state.</summary>
    public const string StateTag = "synthvlm.recaption.state";
}
