using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SynthVlm.Vlm.Training;

/// <summary>What the last run of a job (since it started or resumed) took.</summary>
/// <param name="Seconds">Wall time of the run's steps.</param>
/// <param name="Steps">Steps it ran.</param>
/// <param name="Samples">Samples it trained.</param>
/// <param name="Truncated">Samples cut to the context after the image was spliced in.</param>
/// <param name="SamplesWithoutAnswer">Samples skipped because no answer token is left after truncation (first epoch, over resumes).</param>
public sealed record TrainingRunSummary(double Seconds, int Steps, long Samples, int Truncated, int SamplesWithoutAnswer = 0);

/// <summary>The training report: report.json (settings, data, time, throughput, losses, skipped samples) and loss.svg (the loss curve).</summary>
public static class TrainingReport
{
    /// <summary>Writes report.json and loss.svg into <paramref name="directory"/>.</summary>
    public static void Write(string directory, TrainingSettings settings, IReadOnlyList<double> losses, IReadOnlyList<string> skipped, TrainingRunSummary? run = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(losses);
        ArgumentNullException.ThrowIfNull(skipped);
        var report = new JsonObject
        {
            ["stage"] = settings.Stage.ToString().ToLowerInvariant(),
            ["data"] = new JsonArray([.. settings.Sources.Select(s => new JsonObject { ["data"] = s.DataPath, ["images"] = s.ImageFolder, ["weight"] = s.Weight })]),
            ["epochs"] = settings.Epochs,
            ["max_steps"] = settings.MaxSteps,
            ["global_batch_size"] = settings.GlobalBatchSize,
            ["micro_batch_size"] = settings.MicroBatchSize,
            ["learning_rate"] = settings.LearningRate,
            ["projector_learning_rate"] = settings.ProjectorLearningRate,
            ["warmup_ratio"] = settings.WarmupRatio,
            ["weight_decay"] = settings.WeightDecay,
            ["max_grad_norm"] = settings.MaxGradNorm,
            ["lora_rank"] = settings.LoraRank,
            ["lora_alpha"] = settings.LoraRank is null ? null : settings.LoraAlpha,
            ["seed"] = settings.Seed,
            ["steps"] = losses.Count,
            ["samples_without_answer"] = run?.SamplesWithoutAnswer,
            ["last_run"] = run is null ? null : new JsonObject
            {
                ["seconds"] = run.Seconds,
                ["steps"] = run.Steps,
                ["samples"] = run.Samples,
                ["samples_per_s"] = run.Seconds > 0 ? run.Samples / run.Seconds : null,
                ["truncated_samples"] = run.Truncated,
            },
            ["losses"] = new JsonArray([.. losses.Select(l => double.IsFinite(l) ? JsonValue.Create(l) : null)]),
            ["skipped"] = new JsonArray([.. skipped.Select(s => JsonValue.Create(s))]),
        };
        File.WriteAllText(Path.Combine(directory, "report.json"), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllText(Path.Combine(directory, "loss.svg"), LossCurve(losses));
    }

    /// <summary>Width of one <see cref="LineChart"/> in pixels.</summary>
    public const double ChartWidth = 640;

    /// <summary>Height of one <see cref="LineChart"/> in pixels.</summary>
    public const double ChartHeight = 320;

    /// <summary>An SVG line chart of the per-step loss (non-finite steps left out).</summary>
    public static string LossCurve(IReadOnlyList<double> losses) => LineChart(losses, "training loss per step");

    /// <summary>An SVG line chart of one value per step under <paramref name="title"/> (non-finite steps left out).</summary>
    public static string LineChart(IReadOnlyList<double> values, string title)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(title);
        const double Width = ChartWidth, Height = ChartHeight, Margin = 40;
        var finite = values.Select((l, i) => (Step: i + 1, Loss: l)).Where(p => double.IsFinite(p.Loss)).ToList();
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\">");
        svg.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Margin}\" y=\"20\" font-family=\"sans-serif\" font-size=\"14\">{System.Security.SecurityElement.Escape(title)}</text>");
        if (finite.Count > 0)
        {
            var min = finite.Min(p => p.Loss);
            var max = finite.Max(p => p.Loss);
            var span = Math.Max(max - min, 1e-9);
            var steps = Math.Max(values.Count - 1, 1);
            string X(int step) => (Margin + ((Width - (2 * Margin)) * (step - 1) / steps)).ToString("F1", CultureInfo.InvariantCulture);
            string Y(double loss) => (Height - Margin - ((Height - (2 * Margin)) * (loss - min) / span)).ToString("F1", CultureInfo.InvariantCulture);
            svg.Append("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"");
            svg.AppendJoin(' ', finite.Select(p => $"{X(p.Step)},{Y(p.Loss)}"));
            svg.Append("\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"4\" y=\"{Margin}\" font-family=\"sans-serif\" font-size=\"11\">{max:G4}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"4\" y=\"{Height - Margin}\" font-family=\"sans-serif\" font-size=\"11\">{min:G4}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Width - Margin}\" y=\"{Height - 10}\" font-family=\"sans-serif\" font-size=\"11\" text-anchor=\"end\">step {values.Count}</text>");
        }
        svg.Append("</svg>");
        return svg.ToString();
    }
}
