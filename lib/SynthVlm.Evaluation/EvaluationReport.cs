using System.Globalization;
using System.Security;
using System.Text;
using System.Text.Json.Nodes;

namespace SynthVlm.Evaluation;

/// <summary>A column of the report: a header (the paper's) and how to read its number from a benchmark's metrics.</summary>
/// <param name="Header">The column's header, e.g. "VQAv2", "MME-P".</param>
/// <param name="Benchmark">The benchmark whose metrics hold it.</param>
/// <param name="Value">Reads the number from the metrics object; null when absent.</param>
public sealed record ReportColumn(string Header, string Benchmark, Func<JsonObject, double?> Value);

/// <summary>
/// The paper's Table 1 for several checkpoints: benchmarks as columns, checkpoints as rows (the
/// summary.json of each evaluation), the best value of each column in bold and each row's
/// difference to the first row, as Markdown, and the same numbers as an SVG bar chart.
/// </summary>
public static class EvaluationReport
{
    /// <summary>
    /// SynthVLM's Table 1 columns (ScienceQA-IMG, MM-Vet, VizWiz, VQAv2, GQA, MMBench, MME perception
    /// and cognition, POPE F1 averaged over the three splits as LLaVA-1.5 reports it, MMLU), then
    /// TextVQA and SEED-Bench image; each reads the headline metric the official script prints.
    /// </summary>
    public static IReadOnlyList<ReportColumn> DefaultColumns { get; } =
    [
        new("SQA-IMG", "scienceqa", m => Number(m, "img_acc")),
        new("MM-Vet", "mmvet", m => Number(m, "total")),
        new("VizWiz", "vizwiz", m => Number(m, "overall")),
        new("VQAv2", "vqav2", m => Number(m, "overall")),
        new("GQA", "gqa", m => Number(m, "accuracy")),
        // MMBench, POPE and MMLU report fractions; the paper's table shows percentages.
        new("MMBench", "mmbench", m => Percent(Number(m, "Overall"))),
        new("MME-P", "mme", m => Number(m, "perception")),
        new("MME-C", "mme", m => Number(m, "cognition")),
        new("POPE", "pope", m => Percent(Mean(m, ["adversarial", "popular", "random"], "f1"))),
        new("MMLU", "mmlu", m => Percent(Number(m, "Average accuracy"))),
        new("TextVQA", "textvqa", m => Number(m, "accuracy")),
        new("SEED-IMG", "seed", m => Number(m, "image")),
    ];

    /// <summary>A row: a checkpoint's name and its summary's metrics by benchmark.</summary>
    /// <param name="Model">The checkpoint's name.</param>
    /// <param name="Metrics">Metrics by benchmark name.</param>
    public sealed record Row(string Model, IReadOnlyDictionary<string, JsonObject> Metrics);

    /// <summary>Reads a summary.json written by <see cref="EvaluationJob"/>.</summary>
    /// <exception cref="BenchmarkFormatException">The file is not a summary.</exception>
    public static Row ReadSummary(string path)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw BenchmarkFormatException.For(path, "an evaluation summary.json object");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw BenchmarkFormatException.For(path, "an evaluation summary.json object", e.Message);
        }
        if (root["model"]?.GetValueKind() != System.Text.Json.JsonValueKind.String || root["benchmarks"] is not JsonObject benchmarks)
        {
            throw BenchmarkFormatException.For(path, "an evaluation summary.json object with \"model\" and \"benchmarks\"");
        }
        var metrics = benchmarks
            .Where(b => b.Value?["metrics"] is JsonObject)
            .ToDictionary(b => b.Key, b => (JsonObject)b.Value!["metrics"]!, StringComparer.Ordinal);
        return new Row(root["model"]!.GetValue<string>(), metrics);
    }

    /// <summary>The Markdown table: a header row, one row per checkpoint (best per column in bold), then Δ rows against the first.</summary>
    public static string Markdown(IReadOnlyList<Row> rows, IReadOnlyList<ReportColumn>? columns = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var shown = Shown(rows, columns ?? DefaultColumns);
        if (shown.Count == 0)
        {
            return "(no benchmark has a score)\n";
        }
        var values = rows.Select(r => shown.Select(c => ValueOf(r, c)).ToArray()).ToList();
        var text = new StringBuilder();
        text.Append("| Model | ").AppendJoin(" | ", shown.Select(c => c.Header)).AppendLine(" |");
        text.Append("|---|").AppendJoin(string.Empty, shown.Select(_ => "---:|")).AppendLine();
        for (var r = 0; r < rows.Count; r++)
        {
            text.Append("| ").Append(Escape(rows[r].Model));
            for (var c = 0; c < shown.Count; c++)
            {
                var value = values[r][c];
                var best = rows.Count > 1 && value is { } v && values.All(other => other[c] is not { } o || o <= v);
                text.Append(" | ").Append(value is { } x ? (best ? $"**{Format(x)}**" : Format(x)) : "–");
            }
            text.AppendLine(" |");
        }
        for (var r = 1; r < rows.Count; r++)
        {
            text.Append("| Δ ").Append(Escape(rows[r].Model)).Append(" − ").Append(Escape(rows[0].Model));
            for (var c = 0; c < shown.Count; c++)
            {
                text.Append(" | ").Append(values[r][c] is { } a && values[0][c] is { } b ? (a - b).ToString("+0.0#;-0.0#;0", CultureInfo.InvariantCulture) : "–");
            }
            text.AppendLine(" |");
        }
        return text.ToString();
    }

    /// <summary>
    /// The numbers as grouped bars, one group per column, one bar per checkpoint; each column is
    /// scaled to its own largest value (MME's totals and percentages share no axis), and every bar
    /// is labelled with its number.
    /// </summary>
    public static string Svg(IReadOnlyList<Row> rows, IReadOnlyList<ReportColumn>? columns = null)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var shown = Shown(rows, columns ?? DefaultColumns);
        string[] palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];
        const int barWidth = 18, gap = 26, chartHeight = 220, top = 30, left = 20;
        var groupWidth = (rows.Count * barWidth) + gap;
        var width = left + (shown.Count * groupWidth) + 20;
        var height = top + chartHeight + 60 + (rows.Count * 18);
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"10\">");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left}\" y=\"18\" font-size=\"13\">Benchmarks (each column scaled to its best value)</text>");
        for (var c = 0; c < shown.Count; c++)
        {
            var values = rows.Select(r => ValueOf(r, shown[c])).ToArray();
            var max = values.Where(v => v is > 0).Select(v => v!.Value).DefaultIfEmpty(1).Max();
            var x0 = left + (c * groupWidth);
            for (var r = 0; r < rows.Count; r++)
            {
                if (values[r] is not { } v)
                {
                    continue;
                }
                var h = Math.Max(0, v / max * chartHeight);
                var x = x0 + (r * barWidth);
                var y = top + chartHeight - h;
                svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x}\" y=\"{y:0.##}\" width=\"{barWidth - 2}\" height=\"{h:0.##}\" fill=\"{palette[r % palette.Length]}\"><title>{Escape(rows[r].Model)}: {Format(v)}</title></rect>");
                svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + ((barWidth - 2) / 2.0):0.#}\" y=\"{y - 2:0.##}\" text-anchor=\"middle\" font-size=\"8\">{Format(v)}</text>");
            }
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{x0 + (rows.Count * barWidth / 2.0):0.#}\" y=\"{top + chartHeight + 14}\" text-anchor=\"middle\">{Escape(shown[c].Header)}</text>");
        }
        for (var r = 0; r < rows.Count; r++)
        {
            var y = top + chartHeight + 36 + (r * 18);
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{left}\" y=\"{y - 9}\" width=\"10\" height=\"10\" fill=\"{palette[r % palette.Length]}\"/><text x=\"{left + 16}\" y=\"{y}\">{Escape(rows[r].Model)}</text>");
        }
        svg.Append("</svg>");
        return svg.ToString();
    }

    /// <summary>Writes report.md and report.svg into <paramref name="outputDirectory"/> from the summaries; returns the two paths.</summary>
    public static (string Markdown, string Svg) Write(IReadOnlyList<string> summaryPaths, string outputDirectory)
    {
        ArgumentNullException.ThrowIfNull(summaryPaths);
        var rows = summaryPaths.Select(ReadSummary).ToList();
        Directory.CreateDirectory(outputDirectory);
        var markdown = Path.Combine(outputDirectory, "report.md");
        var svg = Path.Combine(outputDirectory, "report.svg");
        IO.AtomicFile.WriteAllText(markdown, "# Evaluation\n\n" + Markdown(rows) + "\nBold: the best value of a column. Δ rows: difference to the first row.\n");
        IO.AtomicFile.WriteAllText(svg, Svg(rows));
        return (markdown, svg);
    }

    /// <summary>The columns at least one row has a value for.</summary>
    private static List<ReportColumn> Shown(IReadOnlyList<Row> rows, IReadOnlyList<ReportColumn> columns) =>
        [.. columns.Where(c => rows.Any(r => ValueOf(r, c) is not null))];

    private static double? ValueOf(Row row, ReportColumn column) =>
        row.Metrics.TryGetValue(column.Benchmark, out var metrics) ? column.Value(metrics) : null;

    /// <summary>The number at <paramref name="key"/> of <paramref name="metrics"/>, or null.</summary>
    public static double? Number(JsonObject metrics, string key)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        return metrics[key] is JsonValue value && value.TryGetValue<double>(out var x) && double.IsFinite(x) ? x : null;
    }

    /// <summary>The mean of <paramref name="key"/> over the parts (e.g. POPE's splits) that have it, or null when none has.</summary>
    public static double? Mean(JsonObject metrics, IReadOnlyList<string> parts, string key)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(parts);
        var values = parts.Select(p => metrics[p] is JsonObject part ? Number(part, key) : null).Where(v => v is not null).Select(v => v!.Value).ToList();
        return values.Count > 0 ? values.Average() : null;
    }

    private static double? Percent(double? fraction) => fraction * 100;

    private static string Format(double x) => x.ToString(Math.Abs(x) >= 100 ? "0.0" : "0.0#", CultureInfo.InvariantCulture);

    private static string Escape(string text) => SecurityElement.Escape(text.Replace("|", "\\|", StringComparison.Ordinal)) ?? string.Empty;
}
