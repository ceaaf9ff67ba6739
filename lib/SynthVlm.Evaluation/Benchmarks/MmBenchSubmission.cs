using System.IO.Compression;
using System.Text;
using System.Xml;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>One cell of the MMBench submission: its text (null when empty) and whether it is written as a number.</summary>
internal readonly record struct MmBenchSubmissionCell(string? Text, bool IsNumber);

/// <summary>
/// Writes the MMBench submission table as TSV (pandas' <c>to_csv(sep='\t')</c> quoting: a cell holding a tab,
/// a quote or a line break is quoted, quotes doubled) and as XLSX: a zip of the minimal SpreadsheetML parts
/// (content types, relationships, workbook, one sheet "Sheet1") with inline strings, written with
/// System.IO.Compression and XmlWriter. Characters XML 1.0 cannot hold are written as OOXML's <c>_xHHHH_</c>.
/// </summary>
internal static class MmBenchSubmission
{
    private const string SheetNs = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
    private const string RelNs = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
    private const string TypesNs = "http://schemas.openxmlformats.org/package/2006/content-types";
    private const string PackageRelNs = "http://schemas.openxmlformats.org/package/2006/relationships";

    public static void WriteTsv(string path, IReadOnlyList<string> header, IReadOnlyList<MmBenchSubmissionCell[]> rows)
    {
        var builder = new StringBuilder();
        builder.AppendJoin('\t', header.Select(Quote)).Append('\n');
        foreach (var row in rows)
        {
            builder.AppendJoin('\t', row.Select(c => Quote(c.Text ?? ""))).Append('\n');
        }
        File.WriteAllText(path, builder.ToString(), new UTF8Encoding(false));
    }

    public static void WriteXlsx(string path, IReadOnlyList<string> header, IReadOnlyList<MmBenchSubmissionCell[]> rows)
    {
        using var stream = File.Create(path);
        using var zip = new ZipArchive(stream, ZipArchiveMode.Create);
        Part(zip, "[Content_Types].xml", w =>
        {
            w.WriteStartElement("Types", TypesNs);
            Element(w, TypesNs, "Default", ("Extension", "rels"), ("ContentType", "application/vnd.openxmlformats-package.relationships+xml"));
            Element(w, TypesNs, "Default", ("Extension", "xml"), ("ContentType", "application/xml"));
            Element(w, TypesNs, "Override", ("PartName", "/xl/workbook.xml"), ("ContentType", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"));
            Element(w, TypesNs, "Override", ("PartName", "/xl/worksheets/sheet1.xml"), ("ContentType", "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"));
            w.WriteEndElement();
        });
        Part(zip, "_rels/.rels", w =>
        {
            w.WriteStartElement("Relationships", PackageRelNs);
            Element(w, PackageRelNs, "Relationship", ("Id", "rId1"), ("Type", RelNs + "/officeDocument"), ("Target", "xl/workbook.xml"));
            w.WriteEndElement();
        });
        Part(zip, "xl/workbook.xml", w =>
        {
            w.WriteStartElement("workbook", SheetNs);
            w.WriteAttributeString("xmlns", "r", null, RelNs);
            w.WriteStartElement("sheets", SheetNs);
            w.WriteStartElement("sheet", SheetNs);
            w.WriteAttributeString("name", "Sheet1");
            w.WriteAttributeString("sheetId", "1");
            w.WriteAttributeString("id", RelNs, "rId1");
            w.WriteEndElement();
            w.WriteEndElement();
            w.WriteEndElement();
        });
        Part(zip, "xl/_rels/workbook.xml.rels", w =>
        {
            w.WriteStartElement("Relationships", PackageRelNs);
            Element(w, PackageRelNs, "Relationship", ("Id", "rId1"), ("Type", RelNs + "/worksheet"), ("Target", "worksheets/sheet1.xml"));
            w.WriteEndElement();
        });
        Part(zip, "xl/worksheets/sheet1.xml", w =>
        {
            w.WriteStartElement("worksheet", SheetNs);
            w.WriteStartElement("sheetData", SheetNs);
            Row(w, 1, [.. header.Select(h => new MmBenchSubmissionCell(h, false))]);
            for (var r = 0; r < rows.Count; r++)
            {
                Row(w, r + 2, rows[r]);
            }
            w.WriteEndElement();
            w.WriteEndElement();
        });
    }

    private static void Row(XmlWriter w, int number, MmBenchSubmissionCell[] cells)
    {
        w.WriteStartElement("row", SheetNs);
        w.WriteAttributeString("r", number.ToString(System.Globalization.CultureInfo.InvariantCulture));
        for (var c = 0; c < cells.Length; c++)
        {
            if (cells[c].Text is not { } text)
            {
                continue;
            }
            w.WriteStartElement("c", SheetNs);
            w.WriteAttributeString("r", ColumnName(c) + number.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (cells[c].IsNumber)
            {
                w.WriteElementString("v", SheetNs, text);
            }
            else
            {
                w.WriteAttributeString("t", "inlineStr");
                w.WriteStartElement("is", SheetNs);
                w.WriteStartElement("t", SheetNs);
                w.WriteAttributeString("xml", "space", null, "preserve");
                w.WriteString(XmlSafe(text));
                w.WriteEndElement();
                w.WriteEndElement();
            }
            w.WriteEndElement();
        }
        w.WriteEndElement();
    }

    private static string ColumnName(int index)
    {
        var name = "";
        for (var n = index + 1; n > 0; n = (n - 1) / 26)
        {
            name = (char)('A' + ((n - 1) % 26)) + name;
        }
        return name;
    }

    private static string XmlSafe(string text)
    {
        var builder = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var ok = c is '\t' or '\n' or '\r' || (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
                (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]));
            if (!ok)
            {
                builder.Append("_x").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture)).Append('_');
            }
            else if (char.IsHighSurrogate(c))
            {
                builder.Append(c).Append(text[++i]);
            }
            else
            {
                builder.Append(c);
            }
        }
        return builder.ToString();
    }

    private static void Element(XmlWriter w, string ns, string name, params (string Name, string Value)[] attributes)
    {
        w.WriteStartElement(name, ns);
        foreach (var (n, v) in attributes)
        {
            w.WriteAttributeString(n, v);
        }
        w.WriteEndElement();
    }

    private static void Part(ZipArchive zip, string name, Action<XmlWriter> write)
    {
        var entry = zip.CreateEntry(name, CompressionLevel.Optimal);
        using var stream = entry.Open();
        using var writer = XmlWriter.Create(stream, new XmlWriterSettings { Encoding = new UTF8Encoding(false) });
        writer.WriteStartDocument(standalone: true);
        write(writer);
        writer.WriteEndDocument();
    }

    private static string Quote(string cell) =>
        cell.AsSpan().IndexOfAny('\t', '"', '\n') >= 0 || cell.Contains('\r', StringComparison.Ordinal)
            ? "\"" + cell.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""
            : cell;
}
