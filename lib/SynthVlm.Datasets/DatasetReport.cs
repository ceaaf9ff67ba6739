using System.Globalization;
using System.Text;

namespace SynthVlm.Datasets;

/// <summary>Renders <c>report.md</c>: a Table-3-style score table, the selection, curation counts and notes.</summary>
internal static class DatasetReport
{
    public static string Render(DatasetRunInfo run, ScoreStatistics allGenerated, ScoreStatistics selected, DatasetOptions options)
    {
        var md = new StringBuilder();
        md.Append("# SynthVlm dataset: ").Append(Inline(run.RunId)).Append("\n\n");
        md.Append("- run created: ").Append(run.Created.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)).Append('\n');
        md.Append("- selection rule: ").Append(run.SelectionRule.Length == 0 ? "(not given)" : Inline(run.SelectionRule)).Append('\n');
        md.Append("- lambda (weighted = CLIPScore + lambda * SSIMScore): ").Append(Number(run.Lambda, "R")).Append('\n');
        md.Append("- image format: ").Append(DatasetLayout.Extension(options.Format)).Append('\n');
        md.Append("- selected items: ").Append(selected.Count.ToString(CultureInfo.InvariantCulture)).Append("\n\n");

        md.Append("## Scores (mean)\n\n");
        md.Append("| set | count | CLIPScore | SSIMScore | weighted |\n");
        md.Append("|---|---:|---:|---:|---:|\n");
        Row(md, "all generated", allGenerated);
        Row(md, "selected", selected);
        md.Append('\n');

        md.Append("| set | CLIPScore min–max | SSIMScore min–max | weighted min–max |\n");
        md.Append("|---|---:|---:|---:|\n");
        RangeRow(md, "all generated", allGenerated);
        RangeRow(md, "selected", selected);
        md.Append('\n');

        md.Append("## Histograms\n\n");
        md.Append("![CLIPScore](").Append(DatasetLayout.HistogramsFolder).Append("/clip.svg)\n");
        md.Append("![SSIMScore](").Append(DatasetLayout.HistogramsFolder).Append("/ssim.svg)\n");
        md.Append("![weighted](").Append(DatasetLayout.HistogramsFolder).Append("/weighted.svg)\n\n");

        md.Append("## Caption curation\n\n");
        if (run.CurationCounts.Count == 0)
        {
            md.Append("No curation counts were recorded.\n\n");
        }
        else
        {
            md.Append("| reason | count |\n|---|---:|\n");
            foreach (var (reason, count) in run.CurationCounts)
            {
                md.Append("| ").Append(Cell(reason)).Append(" | ").Append(count.ToString(CultureInfo.InvariantCulture)).Append(" |\n");
            }
            md.Append('\n');
        }

        md.Append("## Notes\n\n");
        if (selected.Count == 0)
        {
            md.Append("- The dataset is empty: no image was selected")
              .Append(allGenerated.Count == 0 ? " because no image was generated" : string.Empty)
              .Append(run.Notes.Count > 0 ? " (see the notes below)" : string.Empty)
              .Append(".\n");
        }
        foreach (var note in run.Notes)
        {
            md.Append("- ").Append(Inline(note)).Append('\n');
        }
        if (selected.Count > 0 && run.Notes.Count == 0)
        {
            md.Append("None.\n");
        }
        return md.ToString();
    }

    private static void Row(StringBuilder md, string name, ScoreStatistics s) =>
        md.Append("| ").Append(name).Append(" | ").Append(s.Count.ToString(CultureInfo.InvariantCulture))
          .Append(" | ").Append(Number(s.MeanClip, "F4"))
          .Append(" | ").Append(Number(s.MeanSsim, "F4"))
          .Append(" | ").Append(Number(s.MeanWeighted, "F4")).Append(" |\n");

    private static void RangeRow(StringBuilder md, string name, ScoreStatistics s) =>
        md.Append("| ").Append(name)
          .Append(" | ").Append(Number(s.MinClip, "F4")).Append(" – ").Append(Number(s.MaxClip, "F4"))
          .Append(" | ").Append(Number(s.MinSsim, "F4")).Append(" – ").Append(Number(s.MaxSsim, "F4"))
          .Append(" | ").Append(Number(s.MinWeighted, "F4")).Append(" – ").Append(Number(s.MaxWeighted, "F4")).Append(" |\n");

    private static string Number(double value, string format) =>
        double.IsNaN(value) ? "n/a" : value.ToString(format, CultureInfo.InvariantCulture);

    // User text goes on one line, so a newline in a note cannot start a heading or a table row.
    private static string Inline(string text) => text.ReplaceLineEndings(" ");

    private static string Cell(string text) => Inline(text).Replace("|", "\\|", StringComparison.Ordinal);
}
