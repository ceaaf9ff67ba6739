using System.Globalization;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace SynthVlm.Datasets;

/// <summary>
/// A small SVG bar chart of one score: the histogram of all generated images with the selected
/// ones drawn over it, an x axis with the score range, a y axis with counts, the count above each
/// bar and a legend with totals. Built as an XML tree, so every label is escaped and the result is well-formed.
/// </summary>
internal static class SvgHistogram
{
    private const double Width = 640;
    private const double Height = 360;
    private const double Left = 60;
    private const double Right = 20;
    private const double Top = 40;
    private const double Bottom = 60;
    private const string AllColour = "#b0b0b0";
    private const string SelectedColour = "#1f77b4";

    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    public static XDocument Render(string title, string axisLabel, double upper, IReadOnlyList<long> all, IReadOnlyList<long> selected)
    {
        ArgumentNullException.ThrowIfNull(all);
        ArgumentNullException.ThrowIfNull(selected);
        if (all.Count != selected.Count || all.Count == 0)
        {
            throw new ArgumentException($"Histograms must have the same, non-zero number of bins (got {all.Count} and {selected.Count}).", nameof(selected));
        }
        var bins = all.Count;
        var plotWidth = Width - Left - Right;
        var plotHeight = Height - Top - Bottom;
        var maxCount = Math.Max(1, Math.Max(all.Max(), selected.Max()));
        var barWidth = plotWidth / bins;

        var root = new XElement(Svg + "svg",
            new XAttribute("width", F(Width)),
            new XAttribute("height", F(Height)),
            new XAttribute("viewBox", $"0 0 {F(Width)} {F(Height)}"),
            new XAttribute("font-family", "sans-serif"),
            new XAttribute("font-size", "11"),
            new XElement(Svg + "title", title),
            new XElement(Svg + "rect", new XAttribute("width", F(Width)), new XAttribute("height", F(Height)), new XAttribute("fill", "white")),
            Text(Width / 2, 20, title, "middle", "14"));

        void Bars(IReadOnlyList<long> counts, string colour, string label, string cssClass, bool showCounts, double inset)
        {
            var group = new XElement(Svg + "g", new XAttribute("fill", colour), new XAttribute("class", cssClass));
            for (var i = 0; i < bins; i++)
            {
                var h = counts[i] * plotHeight / maxCount;
                var x = Left + (i * barWidth) + inset;
                var y = Top + plotHeight - h;
                group.Add(new XElement(Svg + "rect",
                    new XAttribute("x", F(x)), new XAttribute("y", F(y)),
                    new XAttribute("width", F(Math.Max(0.5, barWidth - (2 * inset)))), new XAttribute("height", F(h)),
                    new XElement(Svg + "title", $"{label}: {counts[i].ToString(CultureInfo.InvariantCulture)} in [{F(i * upper / bins)}, {F((i + 1) * upper / bins)})")));
                if (showCounts && counts[i] > 0)
                {
                    group.Add(Text(x + (barWidth / 2) - inset, y - 3, counts[i].ToString(CultureInfo.InvariantCulture), "middle", "9", "black"));
                }
            }
            root.Add(group);
        }

        Bars(all, AllColour, "all generated", "all-generated", showCounts: true, inset: 0.5);
        Bars(selected, SelectedColour, "selected", "selected", showCounts: false, inset: barWidth / 5);

        // Axes, ticks and labels.
        root.Add(Line(Left, Top + plotHeight, Left + plotWidth, Top + plotHeight));
        root.Add(Line(Left, Top, Left, Top + plotHeight));
        const int Ticks = 4;
        for (var t = 0; t <= Ticks; t++)
        {
            var x = Left + (t * plotWidth / Ticks);
            root.Add(Line(x, Top + plotHeight, x, Top + plotHeight + 4));
            root.Add(Text(x, Top + plotHeight + 16, F(t * upper / Ticks), "middle"));
            var y = Top + plotHeight - (t * plotHeight / Ticks);
            root.Add(Line(Left - 4, y, Left, y));
            root.Add(Text(Left - 6, y + 4, F((double)t * maxCount / Ticks), "end"));
        }
        root.Add(Text(Left + (plotWidth / 2), Height - 22, axisLabel, "middle", "12"));
        var yLabel = Text(16, Top + (plotHeight / 2), "count", "middle", "12");
        yLabel.Add(new XAttribute("transform", $"rotate(-90 16 {F(Top + (plotHeight / 2))})"));
        root.Add(yLabel);

        // Legend with totals.
        var legendX = Left + plotWidth - 170;
        root.Add(new XElement(Svg + "rect", new XAttribute("x", F(legendX)), new XAttribute("y", F(Top)), new XAttribute("width", "10"), new XAttribute("height", "10"), new XAttribute("fill", AllColour)));
        root.Add(Text(legendX + 14, Top + 9, $"all generated (n = {all.Sum().ToString(CultureInfo.InvariantCulture)})", "start"));
        root.Add(new XElement(Svg + "rect", new XAttribute("x", F(legendX)), new XAttribute("y", F(Top + 16)), new XAttribute("width", "10"), new XAttribute("height", "10"), new XAttribute("fill", SelectedColour)));
        root.Add(Text(legendX + 14, Top + 25, $"selected (n = {selected.Sum().ToString(CultureInfo.InvariantCulture)})", "start"));

        return new XDocument(new XDeclaration("1.0", "utf-8", null), root);
    }

    public static byte[] ToBytes(XDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        var settings = new XmlWriterSettings
        {
            Encoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false),
            Indent = true,
            IndentChars = "  ",
            NewLineChars = "\n",
        };
        using var buffer = new MemoryStream();
        using (var writer = XmlWriter.Create(buffer, settings))
        {
            document.Save(writer);
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    private static XElement Text(double x, double y, string text, string anchor, string? size = null, string? fill = null)
    {
        var e = new XElement(Svg + "text", new XAttribute("x", F(x)), new XAttribute("y", F(y)), new XAttribute("text-anchor", anchor), text);
        if (size is not null)
        {
            e.Add(new XAttribute("font-size", size));
        }
        if (fill is not null)
        {
            e.Add(new XAttribute("fill", fill));
        }
        return e;
    }

    private static XElement Line(double x1, double y1, double x2, double y2) =>
        new(Svg + "line",
            new XAttribute("x1", F(x1)), new XAttribute("y1", F(y1)),
            new XAttribute("x2", F(x2)), new XAttribute("y2", F(y2)),
            new XAttribute("stroke", "black"));

    private static string F(double value) => Math.Round(value, 3).ToString("0.###", CultureInfo.InvariantCulture);
}
