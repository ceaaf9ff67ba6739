using System.Collections.Concurrent;
using System.Text.Json;
using SynthVlm.Blobs;
using SynthVlm.Datasets;
using SynthVlm.Protos.V1;
using SynthVlm.Runs;

namespace SynthVlm.Dashboard;

/// <summary>
/// The gallery: a run's generated images with caption and scores, in pool order, marked
/// selected or rejected once the run's dataset exists (pending before).
/// </summary>
internal sealed class GalleryIndex
{
    // Filtered pages read at most this many score records per request, so a page of a huge run stays cheap.
    private const int MaxScanned = 5000;

    private readonly ConcurrentDictionary<string, HashSet<(string Id, int Variant)>> _selected = new(StringComparer.Ordinal);

    public object Page(FileBlobStore blobs, string run, string filter, int page, int size)
    {
        if (!RunConfigs.IsValidId(run))
        {
            throw new ArgumentException($"'{run}' is not a run id.");
        }
        var selected = Selected(blobs, run);
        var items = new List<object>(size);
        var skip = (long)page * size;
        var scanned = 0;
        var more = false;
        foreach (var (_, record) in RunRecords.ReadScores(blobs, run))
        {
            if (filter == "all" && skip > 0)
            {
                skip--;
                continue;
            }
            if (filter != "all" && ++scanned > MaxScanned + skip)
            {
                more = true;
                break;
            }
            ScoredImage scored;
            try
            {
                scored = ScoredImage.Parser.ParseFrom(record.Span);
            }
            catch (Google.Protobuf.InvalidProtocolBufferException)
            {
                continue;
            }
            var state = selected is null ? "pending" : selected.Contains((scored.Image.CaptionId, scored.Image.Variant)) ? "true" : "false";
            if ((filter == "selected" && state != "true") || (filter == "rejected" && state != "false"))
            {
                continue;
            }
            if (filter != "all" && skip > 0)
            {
                skip--;
                continue;
            }
            if (items.Count == size)
            {
                more = true;
                break;
            }
            items.Add(new
            {
                captionId = scored.Image.CaptionId,
                caption = scored.Image.Caption,
                variant = scored.Image.Variant,
                captionIndex = scored.Image.CaptionIndex,
                image = scored.Image.ImageKey,
                seed = scored.Image.Seed,
                clip = scored.Score?.Clip,
                ssim = scored.Score?.Ssim,
                weighted = scored.Score?.Weighted,
                selected = state,
            });
        }
        return new { run, filter, page, size, items, more, datasetWritten = selected is not null };
    }

    private HashSet<(string Id, int Variant)>? Selected(FileBlobStore blobs, string run)
    {
        if (_selected.TryGetValue(run, out var known))
        {
            return known;
        }
        var configKey = RunRecords.Config(run);
        if (!blobs.Exists(configKey))
        {
            return null;
        }
        var config = RunConfig.Parser.ParseFrom(File.ReadAllBytes(blobs.PathOf(configKey)));
        var folder = config.Output;
        // The marker is written last: without it the dataset is not (yet) complete.
        if (string.IsNullOrEmpty(folder) || !File.Exists(Path.Combine(folder, DatasetLayout.Marker)) || !File.Exists(Path.Combine(folder, DatasetLayout.Manifest)))
        {
            return null;
        }
        var set = new HashSet<(string, int)>();
        foreach (var line in File.ReadLines(Path.Combine(folder, DatasetLayout.Manifest)))
        {
            if (line.Length == 0)
            {
                continue;
            }
            using var record = JsonDocument.Parse(line);
            var root = record.RootElement;
            if (root.TryGetProperty("id", out var id) && root.TryGetProperty("variant", out var variant) && variant.ValueKind == JsonValueKind.Number)
            {
                set.Add((id.GetString() ?? "", variant.GetInt32()));
            }
        }
        _selected.TryAdd(run, set);
        return set;
    }
}
