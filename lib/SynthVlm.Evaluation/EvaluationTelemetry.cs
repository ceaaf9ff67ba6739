using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SynthVlm.Evaluation;

/// <summary>Spans and metrics of evaluation (ActivitySource and Meter "SynthVlm.Evaluation").</summary>
public static class EvaluationTelemetry
{
    /// <summary>The ActivitySource and Meter name.</summary>
    public const string Name = "SynthVlm.Evaluation";

    /// <summary>Spans: "eval job", "eval benchmark".</summary>
    public static readonly ActivitySource ActivitySource = new(Name);

    private static readonly Meter Meter = new(Name);

    /// <summary>Questions answered (tag synthvlm.eval.benchmark).</summary>
    public static readonly Counter<long> Answered = Meter.CreateCounter<long>("synthvlm.eval.answered", "{question}", "Questions answered by the model under test");

    /// <summary>Questions left unanswered (missing image, model failure).</summary>
    public static readonly Counter<long> Unanswered = Meter.CreateCounter<long>("synthvlm.eval.unanswered", "{question}", "Questions the model could not answer");

    /// <summary>Seconds from asking a question to its answer.</summary>
    public static readonly Histogram<double> AnswerDuration = Meter.CreateHistogram<double>("synthvlm.eval.answer.duration", "s", "Time to answer one question (batching included)");

    /// <summary>The tag naming the benchmark.</summary>
    public const string BenchmarkTag = "synthvlm.eval.benchmark";
}
