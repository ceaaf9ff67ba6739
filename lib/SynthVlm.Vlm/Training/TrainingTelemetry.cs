using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SynthVlm.Vlm.Training;

/// <summary>Spans and metrics of VLM training (ActivitySource and Meter "SynthVlm.Training").</summary>
public static class TrainingTelemetry
{
    /// <summary>The ActivitySource and Meter name.</summary>
    public const string Name = "SynthVlm.Training";

    /// <summary>Spans: "train step" per optimizer step (tags step, loss, lr), "checkpoint" per save.</summary>
    public static readonly ActivitySource ActivitySource = new(Name);

    private static readonly Meter Meter = new(Name);

    /// <summary>Loss of each optimizer step (tag stage).</summary>
    public static readonly Histogram<double> Loss = Meter.CreateHistogram<double>("synthvlm.training.loss", "{nat}", "Mean cross-entropy of an optimizer step");

    /// <summary>Learning rate of each optimizer step.</summary>
    public static readonly Histogram<double> LearningRate = Meter.CreateHistogram<double>("synthvlm.training.learning_rate", "1", "Learning rate of an optimizer step");

    /// <summary>Samples trained.</summary>
    public static readonly Counter<long> Samples = Meter.CreateCounter<long>("synthvlm.training.samples", "{sample}", "Samples trained");

    /// <summary>Tokens trained (image positions included).</summary>
    public static readonly Counter<long> Tokens = Meter.CreateCounter<long>("synthvlm.training.tokens", "{token}", "Sequence positions trained");

    /// <summary>Samples skipped (tag reason = image | template).</summary>
    public static readonly Counter<long> Skipped = Meter.CreateCounter<long>("synthvlm.training.skipped", "{sample}", "Samples skipped with a recorded reason");

    /// <summary>Duration of one optimizer step.</summary>
    public static readonly Histogram<double> StepDuration = Meter.CreateHistogram<double>("synthvlm.training.step.duration", "s", "Duration of one optimizer step");
}
