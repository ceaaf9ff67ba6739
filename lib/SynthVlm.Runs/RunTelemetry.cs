using System.Diagnostics;

namespace SynthVlm.Runs;

/// <summary>
/// Spans that make a run one trace across services: the span recorded at submission is the root,
/// its W3C traceparent is kept with the run, and the single-owner work of the run (ingestion,
/// writing the dataset) starts its spans under it; stream messages carry it onwards.
/// </summary>
public static class RunTelemetry
{
    /// <summary>The ActivitySource name ("SynthVlm.Runs"; the services listen to "SynthVlm.*").</summary>
    public const string SourceName = "SynthVlm.Runs";

    /// <summary>The span attribute naming the run (the same as the stream transport's).</summary>
    public const string RunTag = "synthvlm.run";

    /// <summary>The runs' ActivitySource.</summary>
    public static ActivitySource ActivitySource { get; } = new(SourceName);

    /// <summary>
    /// Starts a span of <paramref name="run"/> under <paramref name="traceParent"/> (the run's root), or
    /// under the current span when the run has none; null when nobody listens.
    /// </summary>
    public static Activity? Start(string name, string run, string? traceParent, ActivityKind kind = ActivityKind.Internal)
    {
        if (!ActivitySource.HasListeners())
        {
            return null;
        }
        var activity = ActivityContext.TryParse(traceParent, null, isRemote: true, out var parent)
            ? ActivitySource.StartActivity(name, kind, parent)
            : ActivitySource.StartActivity(name, kind);
        activity?.SetTag(RunTag, run);
        return activity;
    }

    /// <summary>The trace id of a W3C traceparent ("00-{trace}-{span}-{flags}"), or "" when it is not one.</summary>
    public static string TraceIdOf(string? traceParent) =>
        ActivityContext.TryParse(traceParent, null, out var context) ? context.TraceId.ToHexString() : "";
}
