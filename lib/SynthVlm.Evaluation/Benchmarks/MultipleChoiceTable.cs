using System.Globalization;
using System.Text;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// A CSV or TSV file read as pandas' <c>read_csv</c> reads it with its defaults (the official
/// MMBench and MMLU code reads its files that way): fields may be quoted with <c>"</c> and a
/// doubled quote stands for one, a quoted field may hold the delimiter and newlines, blank lines
/// (also lines of spaces and tabs) are skipped, a short row is padded with missing cells, a long one is an error, and a cell in
/// <see cref="PandasNaStrings"/> is missing (null).
/// </summary>
internal sealed class MultipleChoiceTable
{
    /// <summary>
    /// The strings pandas' <c>read_csv</c>/<c>read_excel</c> read as NaN by default, as pandas 1.5 (the reference
    /// runs' pandas, Debian 12's) has them. pandas 2.0 added "None" to the list: with it, an option or a
    /// prediction that is exactly "None" would read as missing too.
    /// </summary>
    public static readonly IReadOnlySet<string> PandasNaStrings = new HashSet<string>(StringComparer.Ordinal)
    {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
        "<NA>", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
    };

    private MultipleChoiceTable(string path, IReadOnlyList<string> header, List<string?[]> rows, List<int> lines)
    {
        Path = path;
        Header = header;
        Rows = rows;
        Lines = lines;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>The column names (or "0", "1", ... when the file has no header).</summary>
    public IReadOnlyList<string> Header { get; }

    /// <summary>The rows; a missing cell is null.</summary>
    public IReadOnlyList<string?[]> Rows { get; }

    /// <summary>The 1-based line each row starts on.</summary>
    public IReadOnlyList<int> Lines { get; }

    /// <summary>Reads <paramref name="path"/>; <paramref name="expected"/> is the format named in errors.</summary>
    /// <exception cref="BenchmarkFormatException">The file is missing or a row has more cells than the header.</exception>
    public static MultipleChoiceTable Read(string path, char delimiter, bool hasHeader, string expected)
    {
        if (!File.Exists(path))
        {
            throw BenchmarkFormatException.For(path, expected, "the file does not exist");
        }
        var text = File.ReadAllText(path, Encoding.UTF8);
        var records = Parse(text, delimiter);
        if (records.Count == 0)
        {
            throw BenchmarkFormatException.For(path, expected, "the file is empty");
        }
        IReadOnlyList<string> header;
        var start = 0;
        if (hasHeader)
        {
            header = [.. records[0].Cells];
            start = 1;
        }
        else
        {
            header = [.. Enumerable.Range(0, records[0].Cells.Count).Select(i => i.ToString(CultureInfo.InvariantCulture))];
        }
        var rows = new List<string?[]>();
        var lines = new List<int>();
        for (var r = start; r < records.Count; r++)
        {
            var (line, cells) = records[r];
            if (cells.Count > header.Count)
            {
                throw BenchmarkFormatException.For(path, expected, $"line {line}: expected {header.Count} fields, saw {cells.Count}");
            }
            var row = new string?[header.Count];
            for (var c = 0; c < header.Count; c++)
            {
                row[c] = c < cells.Count && !PandasNaStrings.Contains(cells[c]) ? cells[c] : null;
            }
            rows.Add(row);
            lines.Add(line);
        }
        return new MultipleChoiceTable(path, header, rows, lines);
    }

    /// <summary>The index of column <paramref name="name"/>, or -1.</summary>
    public int Column(string name)
    {
        for (var i = 0; i < Header.Count; i++)
        {
            if (string.Equals(Header[i], name, StringComparison.Ordinal))
            {
                return i;
            }
        }
        return -1;
    }

    private static List<(int Line, List<string> Cells)> Parse(string text, char delimiter)
    {
        var records = new List<(int, List<string>)>();
        var cells = new List<string>();
        var field = new StringBuilder();
        var line = 1;
        var recordLine = 1;
        var inQuotes = false;
        var quotedField = false;
        var fieldStarted = false;
        var quotedFieldSeen = false;
        var i = 0;
        if (text.Length > 0 && text[0] == '\uFEFF')
        {
            i = 1;
        }
        void EndField()
        {
            cells.Add(field.ToString());
            field.Clear();
            quotedField = false;
            fieldStarted = false;
        }
        void EndRecord()
        {
            // pandas skips blank lines: empty, or only spaces and tabs that are not the delimiter.
            if (!(cells.Count == 1 && !quotedFieldSeen && cells[0].All(ch => ch is ' ' or '\t')))
            {
                records.Add((recordLine, cells));
            }
            cells = [];
        }
        for (; i < text.Length; i++)
        {
            var c = text[i];
            if (inQuotes)
            {
                if (c == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"')
                    {
                        field.Append('"');
                        i++;
                    }
                    else
                    {
                        inQuotes = false;
                    }
                }
                else
                {
                    if (c == '\n')
                    {
                        line++;
                    }
                    field.Append(c);
                }
                continue;
            }
            if (c == '"' && !fieldStarted)
            {
                inQuotes = true;
                quotedField = true;
                quotedFieldSeen = true;
                fieldStarted = true;
            }
            else if (c == delimiter)
            {
                EndField();
            }
            else if (c is '\n' or '\r')
            {
                if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                {
                    i++;
                }
                EndField();
                EndRecord();
                quotedFieldSeen = false;
                line++;
                recordLine = line;
            }
            else
            {
                field.Append(c);
                fieldStarted = true;
            }
        }
        if (fieldStarted || field.Length > 0 || cells.Count > 0 || quotedField)
        {
            EndField();
            EndRecord();
        }
        return records;
    }
}
