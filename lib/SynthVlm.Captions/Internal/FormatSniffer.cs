using System.Text.Json;

namespace SynthVlm.Captions.Internal;

/// <summary>Settles <see cref="CaptionPoolFormat.Auto"/> from the extension and the first bytes, and checks explicit JSON formats.</summary>
internal static class FormatSniffer
{
    private const int SniffBytes = 64 * 1024;

    public static CaptionPoolFormat Settle(string path, Stream stream, CaptionPoolOptions options)
    {
        var extension = System.IO.Path.GetExtension(path).ToUpperInvariant();
        var format = options.Format;
        if (format == CaptionPoolFormat.Auto)
        {
            format = extension switch
            {
                ".JSONL" or ".NDJSON" => CaptionPoolFormat.JsonLines,
                ".CSV" => CaptionPoolFormat.Csv,
                ".TSV" => CaptionPoolFormat.Tsv,
                _ => CaptionPoolFormat.Auto,
            };
        }
        if (format is not (CaptionPoolFormat.Auto or CaptionPoolFormat.SynthVlmJson or CaptionPoolFormat.LlavaJson))
        {
            return format;
        }
        var (first, firstLine) = FirstByte(stream);
        stream.Position = 0;
        if (format != CaptionPoolFormat.Auto)
        {
            if (first is not null and not (byte)'[')
            {
                throw CaptionPoolFormatException.For(path, $"{format} must be a JSON array, but line {firstLine} starts with '{(char)first}'.");
            }
            return format;
        }
        switch (first)
        {
            case null:
                // Empty: any format reads it as an empty pool.
                return extension == ".JSON" ? CaptionPoolFormat.SynthVlmJson : CaptionPoolFormat.JsonLines;
            case (byte)'[':
                return FirstElementHasConversations(stream, options, path) ? CaptionPoolFormat.LlavaJson : CaptionPoolFormat.SynthVlmJson;
            case (byte)'{':
                return CaptionPoolFormat.JsonLines;
        }
        if (extension == ".JSON")
        {
            throw CaptionPoolFormatException.For(path, $"is neither a JSON array nor JSON Lines: line {firstLine} starts with '{(char)first}'.");
        }
        return FirstLineHasTab(stream) ? CaptionPoolFormat.Tsv : CaptionPoolFormat.Csv;
    }

    private static (byte? First, long Line) FirstByte(Stream stream)
    {
        using var window = new ByteWindow(stream, SniffBytes, SniffBytes);
        long line = 1;
        while (true)
        {
            var data = window.Data;
            var at = data.IndexOfAnyExcept(" \t\r\n"u8);
            if (at >= 0)
            {
                return (data[at], line + data[..at].Count((byte)'\n'));
            }
            line += data.Count((byte)'\n');
            window.Consume(data.Length);
            if (!window.Fill())
            {
                return (null, line);
            }
        }
    }

    private static bool FirstElementHasConversations(Stream stream, CaptionPoolOptions options, string path)
    {
        using var window = new ByteWindow(stream, Math.Min(SniffBytes, options.MaxRecordBytes + 2), options.MaxRecordBytes + 1024);
        var elements = new JsonArraySplitter(window, options.MaxRecordBytes, path);
        if (elements.Next(out _, out var raw, out _) != JsonElementKind.Container)
        {
            return false;
        }
        var bytes = Records.ToValidUtf8(raw, out _);
        var fields = new JsonFields();
        try
        {
            fields.Read(bytes, new JsonFieldNames(options));
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return false;
        }
        return fields.HasConversations;
    }

    private static bool FirstLineHasTab(Stream stream)
    {
        Span<byte> head = stackalloc byte[4096];
        var read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        var firstLine = head[..read];
        var newline = firstLine.IndexOf((byte)'\n');
        return (newline >= 0 ? firstLine[..newline] : firstLine).Contains((byte)'\t');
    }
}
