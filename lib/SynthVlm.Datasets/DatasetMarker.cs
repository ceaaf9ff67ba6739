using System.Text.Json;

namespace SynthVlm.Datasets;

/// <summary>
/// The completion marker <c>dataset.json</c>: <c>{"format": "synthvlm-dataset", "format_version": 1,
/// "run_id", "count", "files", "shards", "image_format", "images_per_folder", "items_per_shard"}</c>.
/// It is written last, so a folder with a valid marker is complete.
/// </summary>
internal sealed record DatasetMarker(string RunId, long Count, long Files, int Shards)
{
    public static byte[] Write(DatasetMarker marker, DatasetOptions options)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, DatasetWriter.JsonOptions with { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("format", DatasetLayout.FormatName);
            json.WriteNumber("format_version", DatasetLayout.FormatVersion);
            json.WriteString("run_id", marker.RunId);
            json.WriteNumber("count", marker.Count);
            json.WriteNumber("files", marker.Files);
            json.WriteNumber("shards", marker.Shards);
            json.WriteString("image_format", DatasetLayout.Extension(options.Format));
            json.WriteNumber("images_per_folder", options.ImagesPerFolder);
            json.WriteNumber("items_per_shard", options.ItemsPerTarShard);
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    public static DatasetMarker Read(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("format", out var format) || format.ValueKind != JsonValueKind.String
                || format.GetString() != DatasetLayout.FormatName)
            {
                throw new DatasetException($"'{path}' is not a SynthVlm dataset marker (its \"format\" is not \"{DatasetLayout.FormatName}\").");
            }
            var version = root.GetProperty("format_version").GetInt32();
            if (version != DatasetLayout.FormatVersion)
            {
                throw new DatasetException($"'{path}' has dataset format version {version}; this writer knows version {DatasetLayout.FormatVersion}.");
            }
            return new DatasetMarker(
                root.GetProperty("run_id").GetString() ?? throw new DatasetException($"'{path}' has a null run_id."),
                root.GetProperty("count").GetInt64(),
                root.GetProperty("files").GetInt64(),
                root.GetProperty("shards").GetInt32());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new DatasetException($"'{path}' is not a valid SynthVlm dataset marker: {e.Message}", e);
        }
    }
}
