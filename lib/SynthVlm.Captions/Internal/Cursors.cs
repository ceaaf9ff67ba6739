using System.Text;
using System.Text.Json;

namespace SynthVlm.Captions.Internal;

/// <summary>One pass over a pool in one format, record by record.</summary>
internal abstract class PoolCursor : IDisposable
{
    private readonly Queue<PoolRecord> _pending = new();

    protected PoolCursor(Stream stream, CaptionPoolOptions options, string path)
    {
        Options = options;
        Path = path;
        Records = new Records(options);
        // Room for one whole record plus the start of the next, so a record at the bound still fits after compaction.
        Window = new ByteWindow(stream, Math.Min(options.InitialBufferBytes, options.MaxRecordBytes + 2), options.MaxRecordBytes + 1024);
    }

    protected CaptionPoolOptions Options { get; }

    protected string Path { get; }

    protected Records Records { get; }

    protected ByteWindow Window { get; }

    /// <summary>The largest read buffer this pass has held, in bytes.</summary>
    public int PeakBufferBytes => Window.PeakBufferBytes;

    public bool TryNext(out PoolRecord record)
    {
        while (_pending.Count == 0)
        {
            if (!Advance())
            {
                record = null!;
                return false;
            }
        }
        record = _pending.Dequeue();
        return true;
    }

    /// <summary>Reads the next record(s) into <see cref="Emit"/>; false at the end.</summary>
    protected abstract bool Advance();

    protected void Emit(PoolRecord record) => _pending.Enqueue(record);

    public void Dispose() => Window.Dispose();

    protected string TooLong(string what) =>
        $"{what} is longer than {Options.MaxRecordBytes} bytes (four times MaxCaptionBytes); skipped without reading it";
}

/// <summary>JSON Lines, and the image folder's metadata.jsonl: a malformed line is rejected and reading goes on.</summary>
internal class JsonLinesCursor : PoolCursor
{
    private readonly LineSplitter _lines;
    private readonly JsonFieldNames _names;
    private readonly JsonFields _fields = new();

    public JsonLinesCursor(Stream stream, CaptionPoolOptions options, string path)
        : base(stream, options, path)
    {
        _lines = new LineSplitter(Window, options.MaxRecordBytes);
        _names = new JsonFieldNames(options);
    }

    protected override bool Advance()
    {
        while (true)
        {
            var kind = _lines.Next(out var line, out var raw);
            switch (kind)
            {
                case LineKind.End:
                    return false;
                case LineKind.TooLong:
                    Emit(Records.Reject(line, TooLong("the line"), ReadOnlySpan<byte>.Empty));
                    return true;
            }
            if (raw.Trim(" \t"u8).IsEmpty)
            {
                continue;
            }
            var bytes = Records.ToValidUtf8(raw, out var invalid);
            if (bytes.TrimStart(" \t"u8)[0] != (byte)'{')
            {
                Emit(Records.Reject(line, "the line is not a JSON object", bytes));
                return true;
            }
            try
            {
                _fields.Read(bytes, _names);
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException)
            {
                Emit(Records.Reject(line, $"malformed JSON: {ex.Message}", bytes));
                return true;
            }
            Emit(Build(line, _fields, invalid, bytes));
            return true;
        }
    }

    protected virtual PoolRecord Build(long line, JsonFields fields, bool invalid, ReadOnlySpan<byte> bytes) =>
        JsonArrayCursor.BuildCaption(Records, line, fields, invalid, bytes);
}

/// <summary>
/// A Hugging Face imagefolder: metadata.jsonl lines name an image by <c>file_name</c>, relative to the folder.
/// A name that is absolute, leaves the folder or names no file is rejected.
/// </summary>
internal sealed class ImageFolderCursor : JsonLinesCursor
{
    private readonly string _folder;

    public ImageFolderCursor(Stream stream, CaptionPoolOptions options, string folder)
        : base(stream, options, System.IO.Path.Combine(folder, KnownColumns.MetadataFile))
    {
        _folder = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(folder)) + System.IO.Path.DirectorySeparatorChar;
    }

    protected override PoolRecord Build(long line, JsonFields fields, bool invalid, ReadOnlySpan<byte> bytes)
    {
        if (fields.IdProblem is { } idProblem)
        {
            return Records.Reject(line, idProblem, bytes);
        }
        if (string.IsNullOrEmpty(fields.FileName))
        {
            return Records.Reject(line, $"no '{KnownColumns.FileName}' field", bytes);
        }
        if (System.IO.Path.IsPathRooted(fields.FileName) || fields.FileName.Contains('\0', StringComparison.Ordinal))
        {
            return Records.Reject(line, $"'{KnownColumns.FileName}' must be a path inside the folder, found '{fields.FileName}'", bytes);
        }
        var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(_folder, fields.FileName));
        if (!full.StartsWith(_folder, StringComparison.Ordinal))
        {
            return Records.Reject(line, $"'{KnownColumns.FileName}' escapes the folder: '{fields.FileName}'", bytes);
        }
        if (!File.Exists(full))
        {
            return Records.Reject(line, $"image file '{fields.FileName}' does not exist", bytes);
        }
        if (fields.CaptionProblem is { } problem)
        {
            return Records.Reject(line, problem, bytes, fields.Id);
        }
        var (caption, name) = fields.Caption is not null ? (fields.Caption, Options.CaptionColumn) : (fields.Text, "text");
        return Records.Caption(line, fields.Id, caption, full, fields.Url, invalid, bytes,
            fields.Caption is null && fields.Text is null ? $"{Options.CaptionColumn}' or 'text" : name);
    }
}

/// <summary>
/// A JSON array read element by element (SynthVLM captions, or LLaVA conversations). A syntax error is reported as a
/// reject at its line and ends the pass: a JSON array has no record boundary to resynchronise on.
/// </summary>
internal sealed class JsonArrayCursor : PoolCursor
{
    private readonly JsonArraySplitter _elements;
    private readonly JsonFieldNames _names;
    private readonly JsonFields _fields = new();
    private readonly bool _llava;

    public JsonArrayCursor(Stream stream, CaptionPoolOptions options, string path, bool llava)
        : base(stream, options, path)
    {
        _elements = new JsonArraySplitter(Window, options.MaxRecordBytes, path);
        _names = new JsonFieldNames(options);
        _llava = llava;
    }

    protected override bool Advance()
    {
        var kind = _elements.Next(out var line, out var raw, out var detail);
        switch (kind)
        {
            case JsonElementKind.End:
                return false;
            case JsonElementKind.SyntaxError:
                Emit(Records.Reject(line, $"malformed JSON, reading stops here: {detail}", (string?)null));
                return true;
            case JsonElementKind.TooLarge:
                Emit(Records.Reject(line, TooLong("the array element"), ReadOnlySpan<byte>.Empty));
                return true;
        }
        var bytes = Records.ToValidUtf8(raw, out var invalid);
        if (kind == JsonElementKind.Scalar || bytes[0] != (byte)'{')
        {
            var found = JsonFields.Describe(Enum.Parse<JsonTokenType>(detail!));
            Emit(Records.Reject(line, $"array element must be an object, found {found}", bytes));
            return true;
        }
        try
        {
            _fields.Read(bytes, _names);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // The array reader checked the syntax; what is left is a string escaping a lone surrogate.
            Emit(Records.Reject(line, $"malformed JSON: {ex.Message}", bytes));
            return true;
        }
        if (_llava)
        {
            EmitTurns(line, invalid, bytes);
        }
        else
        {
            Emit(BuildCaption(Records, line, _fields, invalid, bytes));
        }
        return true;
    }

    private void EmitTurns(long line, bool invalid, ReadOnlySpan<byte> bytes)
    {
        if ((_fields.IdProblem ?? _fields.ConversationsProblem) is { } problem)
        {
            Emit(Records.Reject(line, problem, bytes));
            return;
        }
        if (_fields.GptTurns.Count == 0)
        {
            Emit(Records.Reject(line, _fields.HasConversations ? "conversations has no gpt turn" : "no 'conversations' field", bytes));
            return;
        }
        var several = _fields.GptTurns.Count > 1;
        var id = string.IsNullOrWhiteSpace(_fields.Id) ? null : _fields.Id;
        for (var k = 0; k < _fields.GptTurns.Count; k++)
        {
            var turnId = id is not null && several ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{id}#{k + 1}") : id;
            Emit(Records.Caption(line, turnId, _fields.GptTurns[k], _fields.ImagePath, _fields.Url, invalid, bytes, "conversations[gpt].value"));
        }
    }

    internal static PoolRecord BuildCaption(Records records, long line, JsonFields fields, bool invalid, ReadOnlySpan<byte> bytes)
    {
        if (fields.IdProblem is { } idProblem)
        {
            return records.Reject(line, idProblem, bytes);
        }
        if (fields.CaptionProblem is { } problem)
        {
            return records.Reject(line, problem, bytes, fields.Id);
        }
        return records.Caption(line, fields.Id, fields.Caption, fields.ImagePath, fields.Url, invalid, bytes);
    }
}

/// <summary>CSV or TSV rows; a bad row is rejected and reading goes on.</summary>
internal sealed class DelimitedCursor : PoolCursor
{
    private readonly DelimitedSplitter _rows;
    private readonly byte _delimiter;
    private readonly List<Range> _fields = [];
    private byte[] _scratch = [];
    private int _captionIndex;
    private int _idIndex = -1;
    private int _pathIndex = -1;
    private int _urlIndex = -1;
    private int _namedImageIndex = -1;
    private bool _headerRead;

    public DelimitedCursor(Stream stream, CaptionPoolOptions options, string path, byte delimiter)
        : base(stream, options, path)
    {
        _delimiter = delimiter;
        _rows = new DelimitedSplitter(Window, delimiter, options.MaxRecordBytes);
        if (!options.HasHeader)
        {
            // CC3M's TSV: caption, then the image URL (or a path).
            _headerRead = true;
            _captionIndex = 0;
            _namedImageIndex = 1;
        }
    }

    protected override bool Advance()
    {
        var kind = _rows.Next(out var line, out var raw);
        switch (kind)
        {
            case RowKind.End:
                if (!_headerRead)
                {
                    _headerRead = true;
                }
                return false;
            case RowKind.TooLong:
                if (!_headerRead)
                {
                    throw CaptionPoolFormatException.For(Path, $"the header row is longer than {Options.MaxRecordBytes} bytes.");
                }
                Emit(Records.Reject(line, TooLong("the row"), ReadOnlySpan<byte>.Empty));
                return true;
        }
        var bytes = Records.ToValidUtf8(raw, out var invalid);
        if (bytes.Length > _scratch.Length)
        {
            _scratch = new byte[Math.Max(bytes.Length, Math.Min(_scratch.Length * 2, Options.MaxRecordBytes + 1024))];
        }
        DelimitedSplitter.SplitFields(bytes, _delimiter, _scratch, _fields);
        if (!_headerRead)
        {
            ReadHeader(line);
            return true;
        }
        if (kind == RowKind.Unterminated)
        {
            Emit(Records.Reject(line, "a quoted field is not closed before the end of the file", bytes));
            return true;
        }
        if (_captionIndex >= _fields.Count)
        {
            Emit(Records.Reject(line,
                $"the row has {_fields.Count} field(s) but the caption is field {_captionIndex + 1}", bytes));
            return true;
        }
        var caption = Field(_captionIndex);
        var id = Field(_idIndex);
        var path = Field(_pathIndex);
        var url = Field(_urlIndex);
        if (Field(_namedImageIndex) is { Length: > 0 } image)
        {
            if (KnownColumns.IsUrl(image))
            {
                url = image;
            }
            else
            {
                path = image;
            }
        }
        Emit(Records.Caption(line, id, caption, NullIfEmpty(path), NullIfEmpty(url), invalid, bytes));
        return true;
    }

    private void ReadHeader(long line)
    {
        _headerRead = true;
        var names = new string[_fields.Count];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = Field(i)!.Trim();
        }
        _captionIndex = Array.FindIndex(names, n => n.Equals(Options.CaptionColumn, StringComparison.OrdinalIgnoreCase));
        if (_captionIndex < 0)
        {
            throw CaptionPoolFormatException.For(Path,
                $"the header (line {line}) has no caption column '{Options.CaptionColumn}'; its columns are: {string.Join(", ", names.Select(n => $"'{n}'"))}.");
        }
        _idIndex = Array.FindIndex(names, n => n.Equals(Options.IdColumn, StringComparison.OrdinalIgnoreCase));
        if (Options.ImageColumn is { } image)
        {
            _namedImageIndex = Array.FindIndex(names, n => n.Equals(image, StringComparison.OrdinalIgnoreCase));
            if (_namedImageIndex < 0)
            {
                throw CaptionPoolFormatException.For(Path,
                    $"the header (line {line}) has no image column '{image}'; its columns are: {string.Join(", ", names.Select(n => $"'{n}'"))}.");
            }
        }
        else
        {
            _pathIndex = Array.FindIndex(names, n => KnownColumns.ImagePathNames.Contains(n, StringComparer.OrdinalIgnoreCase)
                || n.Equals(KnownColumns.FileName, StringComparison.OrdinalIgnoreCase));
            _urlIndex = Array.FindIndex(names, n => KnownColumns.UrlNames.Contains(n, StringComparer.OrdinalIgnoreCase));
        }
    }

    private string? Field(int index) =>
        index < 0 || index >= _fields.Count ? null : Encoding.UTF8.GetString(_scratch.AsSpan(_fields[index]));

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
