using System.Buffers;
using System.Text;
using System.Text.Json;
using SynthVlm.IO;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Datasets;

/// <summary>
/// Fills a staging folder in one pass over the selected items. Holds one open stream per output
/// file (llava.json, manifest.jsonl, timings.jsonl, the current tar shard) and at most one image
/// at a time.
/// </summary>
internal sealed class DatasetBuilder : IAsyncDisposable
{
    private const int FileBufferSize = 1 << 16;

    private readonly string _root;
    private readonly DatasetRunInfo _run;
    private readonly DatasetOptions _options;
    private readonly Func<string, CancellationToken, ValueTask<byte[]>> _readImage;
    private readonly ScoreStatistics _selected;
    private readonly ArrayBufferWriter<byte> _record = new(1024);
    private readonly Utf8JsonWriter _recordJson;
    private readonly EncodeOptions _encodeOptions;

    private FileStream? _llavaStream;
    private Utf8JsonWriter? _llava;
    private FileStream? _manifest;
    private FileStream? _timings;
    private FileStream? _shardStream;
    private UstarWriter? _shard;
    private long _count;
    private long _files;
    private int _shards;
    private long _imageFolder = -1;

    private DatasetBuilder(string root, DatasetRunInfo run, DatasetOptions options, Func<string, CancellationToken, ValueTask<byte[]>> readImage)
    {
        _root = root;
        _run = run;
        _options = options;
        _readImage = readImage;
        _selected = new ScoreStatistics(run.Lambda, options.HistogramBins);
        _recordJson = new Utf8JsonWriter(_record, DatasetWriter.JsonOptions);
        _encodeOptions = new EncodeOptions { JpegQuality = options.Quality, WebPQuality = options.Quality };
    }

    public static async Task<DatasetResult> BuildAsync(
        string root,
        DatasetRunInfo run,
        IAsyncEnumerable<DatasetItem> items,
        ScoreStatistics allGenerated,
        Func<string, CancellationToken, ValueTask<byte[]>> readImage,
        DatasetOptions options,
        CancellationToken cancellationToken)
    {
        var builder = new DatasetBuilder(root, run, options, readImage);
        await using (builder.ConfigureAwait(false))
        {
            builder.Open();
            await foreach (var item in items.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                await builder.AddAsync(item, cancellationToken).ConfigureAwait(false);
            }
            return await builder.FinishAsync(allGenerated, cancellationToken).ConfigureAwait(false);
        }
    }

    private void Open()
    {
        Directory.CreateDirectory(Path.Combine(_root, DatasetLayout.ImagesFolder));
        Directory.CreateDirectory(Path.Combine(_root, DatasetLayout.ShardsFolder));
        Directory.CreateDirectory(Path.Combine(_root, DatasetLayout.HistogramsFolder));
        _llavaStream = Create(DatasetLayout.LlavaJson);
        _llava = new Utf8JsonWriter(_llavaStream, DatasetWriter.JsonOptions);
        _llava.WriteStartArray();
        _manifest = Create(DatasetLayout.Manifest);
        _timings = Create(DatasetLayout.Timings);
    }

    private async ValueTask AddAsync(DatasetItem item, CancellationToken cancellationToken)
    {
        var rank = _count;
        CheckItem(item, rank);

        var image = await ReadImageAsync(item, rank, cancellationToken).ConfigureAwait(false);
        var imagePath = DatasetLayout.ImagePath(rank, item.Id, _options.ImagesPerFolder, _options.Format);
        await WriteImageAsync(rank, item, imagePath, image, cancellationToken).ConfigureAwait(false);

        var record = ManifestRecord(item, rank, imagePath);
        await _manifest!.WriteAsync(record, cancellationToken).ConfigureAwait(false);
        _manifest.WriteByte((byte)'\n');

        WriteLlavaEntry(item, imagePath);
        if (_llava!.BytesPending > FileBufferSize)
        {
            await _llava.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        await _timings!.WriteAsync(TimingsRecord(item), cancellationToken).ConfigureAwait(false);
        _timings.WriteByte((byte)'\n');

        await WriteSampleAsync(rank, item, image, record, cancellationToken).ConfigureAwait(false);

        _selected.Add(item.Clip, item.Ssim, item.Weighted);
        _count++;
    }

    private async ValueTask<byte[]> ReadImageAsync(DatasetItem item, long rank, CancellationToken cancellationToken)
    {
        byte[]? source;
        try
        {
            source = await _readImage(item.ImageKey, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException and not DatasetException)
        {
            throw new DatasetException($"Reading image '{item.ImageKey}' of item {rank} ('{item.Id}') failed: {e.Message}", e);
        }
        if (source is null || source.Length == 0)
        {
            throw new DatasetException($"Image '{item.ImageKey}' of item {rank} ('{item.Id}') is empty.");
        }
        var format = ImageCodec.DetectFormat(source);
        if (format == ImageFormat.Unknown)
        {
            throw new DatasetException($"Image '{item.ImageKey}' of item {rank} ('{item.Id}') is not a PNG, JPEG or WebP image.");
        }
        if (format == _options.Format)
        {
            return source; // already in the dataset's format: copied byte for byte
        }
        try
        {
            using RgbImage pixels = ImageCodec.Decode(source, source: item.ImageKey);
            return ImageCodec.Encode(pixels, _options.Format, _encodeOptions);
        }
        catch (ImagingException e)
        {
            throw new DatasetException($"Converting image '{item.ImageKey}' of item {rank} ('{item.Id}') to {_options.Format} failed: {e.Message}", e);
        }
    }

    private async ValueTask WriteImageAsync(long rank, DatasetItem item, string relativePath, byte[] image, CancellationToken cancellationToken)
    {
        var folder = rank / _options.ImagesPerFolder;
        if (folder != _imageFolder)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(FullPath(relativePath))!);
            _imageFolder = folder;
        }
        FileStream stream;
        try
        {
            stream = Create(relativePath, bufferSize: 0);
        }
        catch (IOException e) when (File.Exists(FullPath(relativePath)))
        {
            throw new DatasetException(
                $"Item {rank} ('{item.Id}') would overwrite image '{relativePath}': the same caption id was selected twice in one image folder.", e);
        }
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(image, cancellationToken).ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
        }
        _files++;
    }

    private async ValueTask WriteSampleAsync(long rank, DatasetItem item, byte[] image, ReadOnlyMemory<byte> record, CancellationToken cancellationToken)
    {
        if (rank % _options.ItemsPerTarShard == 0)
        {
            await CloseShardAsync(cancellationToken).ConfigureAwait(false);
            _shardStream = Create(DatasetLayout.ShardPath(_run.RunId, _shards));
            _shard = new UstarWriter(_shardStream);
            _shards++;
        }
        var key = DatasetLayout.SampleKey(rank, item.Id);
        await _shard!.AddFileAsync($"{key}.{DatasetLayout.Extension(_options.Format)}", image, cancellationToken).ConfigureAwait(false);
        await _shard.AddFileAsync($"{key}.txt", DatasetWriter.Utf8NoBom.GetBytes(item.Caption), cancellationToken).ConfigureAwait(false);
        await _shard.AddFileAsync($"{key}.json", record, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask CloseShardAsync(CancellationToken cancellationToken)
    {
        if (_shard is null)
        {
            return;
        }
        await _shard.FinishAsync(cancellationToken).ConfigureAwait(false);
        await CloseAsync(_shardStream!, cancellationToken).ConfigureAwait(false);
        _shard = null;
        _shardStream = null;
    }

    private ReadOnlyMemory<byte> ManifestRecord(DatasetItem item, long rank, string imagePath)
    {
        _record.ResetWrittenCount();
        _recordJson.Reset();
        var json = _recordJson;
        json.WriteStartObject();
        json.WriteString("id", item.Id);
        json.WriteString("image", imagePath);
        json.WriteString("caption", item.Caption);
        json.WriteNumber("rank", rank);
        json.WriteNumber("variant", item.Variant);
        json.WriteNumber("seed", item.Seed);
        // Utf8JsonWriter prints doubles in their shortest round-trip form, culture-independent.
        json.WriteNumber("clip", item.Clip);
        json.WriteNumber("ssim", item.Ssim);
        json.WriteNumber("weighted", item.Weighted);
        json.WriteNumber("lambda", item.Lambda);
        json.WriteNumber("cosine", item.Cosine);
        json.WriteBoolean("caption_truncated", item.CaptionTruncated);
        json.WriteString("generation_model", item.GenerationModel);
        json.WriteString("clip_model", item.ClipModel);
        json.WriteStartObject("settings");
        foreach (var (key, value) in item.GenerationSettings.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            json.WriteString(key, value);
        }
        json.WriteEndObject();
        json.WriteEndObject();
        json.Flush();
        // The record is written to the manifest and the shard before the next item overwrites it.
        return _record.WrittenMemory;
    }

    private byte[] TimingsRecord(DatasetItem item)
    {
        using var buffer = new MemoryStream(128);
        using (var json = new Utf8JsonWriter(buffer, DatasetWriter.JsonOptions))
        {
            json.WriteStartObject();
            json.WriteString("id", item.Id);
            json.WriteStartObject("timings");
            foreach (var (key, value) in item.Timings.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                json.WriteNumber(key, value);
            }
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private void WriteLlavaEntry(DatasetItem item, string imagePath)
    {
        var json = _llava!;
        json.WriteStartObject();
        json.WriteString("id", item.Id);
        json.WriteString("image", imagePath);
        json.WriteStartArray("conversations");
        json.WriteStartObject();
        json.WriteString("from", "human");
        json.WriteString("value", LlavaPrompts.HumanTurn(item.Id));
        json.WriteEndObject();
        json.WriteStartObject();
        json.WriteString("from", "gpt");
        json.WriteString("value", item.Caption);
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private async Task<DatasetResult> FinishAsync(ScoreStatistics allGenerated, CancellationToken cancellationToken)
    {
        _llava!.WriteEndArray();
        await _llava.FlushAsync(cancellationToken).ConfigureAwait(false);
        await _llava.DisposeAsync().ConfigureAwait(false);
        _llava = null;
        await CloseAsync(_llavaStream!, cancellationToken).ConfigureAwait(false);
        _llavaStream = null;
        await CloseAsync(_manifest!, cancellationToken).ConfigureAwait(false);
        _manifest = null;
        await CloseAsync(_timings!, cancellationToken).ConfigureAwait(false);
        _timings = null;
        await CloseShardAsync(cancellationToken).ConfigureAwait(false);

        var histograms = new (ScoreKind Kind, string File, string Title, string Axis)[]
        {
            (ScoreKind.Clip, "clip.svg", "CLIPScore", "CLIPScore"),
            (ScoreKind.Ssim, "ssim.svg", "SSIMScore", "SSIMScore (negative values in the first bin)"),
            (ScoreKind.Weighted, "weighted.svg", "Weighted score", $"CLIPScore + {_run.Lambda.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} x SSIMScore"),
        };
        foreach (var (kind, file, title, axis) in histograms)
        {
            var svg = SvgHistogram.Render(
                $"{title}: all generated vs selected", axis, allGenerated.UpperBound(kind), allGenerated.Histogram(kind), _selected.Histogram(kind));
            await WriteFileAsync($"{DatasetLayout.HistogramsFolder}/{file}", SvgHistogram.ToBytes(svg), cancellationToken).ConfigureAwait(false);
        }

        var report = DatasetReport.Render(_run, allGenerated, _selected, _options);
        await WriteFileAsync(DatasetLayout.Report, DatasetWriter.Utf8NoBom.GetBytes(report), cancellationToken).ConfigureAwait(false);

        // The marker counts itself and is written last: a folder with a marker is complete.
        var marker = new DatasetMarker(_run.RunId, _count, _files + 1, _shards);
        await WriteFileAsync(DatasetLayout.Marker, DatasetMarker.Write(marker, _options), cancellationToken).ConfigureAwait(false);

        // Files were flushed as they were closed; their directory entries are flushed here, deepest
        // first, so that the staging folder is complete on disk before it is renamed into place.
        foreach (var directory in Directory.EnumerateDirectories(_root, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length))
        {
            DirectorySync.Flush(directory);
        }
        DirectorySync.Flush(_root);

        return new DatasetResult
        {
            Directory = _root,
            RunId = _run.RunId,
            Count = _count,
            FilesWritten = _files,
            Shards = _shards,
            AlreadyExisted = false,
        };
    }

    private async ValueTask WriteFileAsync(string relativePath, byte[] bytes, CancellationToken cancellationToken)
    {
        var stream = Create(relativePath, bufferSize: 0);
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            stream.Flush(flushToDisk: true);
        }
        _files++;
    }

    private FileStream Create(string relativePath, int bufferSize = FileBufferSize)
    {
        var path = FullPath(relativePath);
        return new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize);
    }

    private async ValueTask CloseAsync(FileStream stream, CancellationToken cancellationToken)
    {
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        stream.Flush(flushToDisk: true);
        await stream.DisposeAsync().ConfigureAwait(false);
        _files++;
    }

    // Every relative path comes from DatasetLayout (safe segments only); this check makes sure
    // that stays true: nothing derived from an id may land outside the staging folder.
    private string FullPath(string relativePath)
    {
        var full = Path.GetFullPath(Path.Combine(_root, relativePath));
        if (!full.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new DatasetException($"Path '{relativePath}' would leave the dataset folder '{_root}'.");
        }
        return full;
    }

    private static void CheckItem(DatasetItem item, long rank)
    {
        if (item is null)
        {
            throw new DatasetException($"Item {rank} is null.");
        }
        var who = $"item {rank} ('{item.Id}')";
        CheckText(item.Id, "Id", who);
        CheckText(item.Caption, "Caption", who);
        CheckText(item.ImageKey, "ImageKey", who);
        CheckText(item.GenerationModel, "GenerationModel", who);
        CheckText(item.ClipModel, "ClipModel", who);
        if (item.Id.Length == 0)
        {
            throw new DatasetException($"Item {rank} has an empty Id.");
        }
        if (item.ImageKey.Length == 0)
        {
            throw new DatasetException($"Item {rank} ('{item.Id}') has an empty ImageKey.");
        }
        CheckFinite(item.Clip, "Clip", who);
        CheckFinite(item.Ssim, "Ssim", who);
        CheckFinite(item.Weighted, "Weighted", who);
        CheckFinite(item.Lambda, "Lambda", who);
        CheckFinite(item.Cosine, "Cosine", who);
        if (item.GenerationSettings is null)
        {
            throw new DatasetException($"GenerationSettings of {who} is null.");
        }
        foreach (var (key, value) in item.GenerationSettings)
        {
            CheckText(key, "GenerationSettings key", who);
            CheckText(value, $"GenerationSettings['{key}']", who);
        }
        if (item.Timings is null)
        {
            throw new DatasetException($"Timings of {who} is null.");
        }
        foreach (var (key, value) in item.Timings)
        {
            CheckText(key, "Timings key", who);
            CheckFinite(value, $"Timings['{key}']", who);
        }
    }

    /// <summary>Refuses null and text that is not valid UTF-16 (a lone surrogate cannot be written as UTF-8 JSON).</summary>
    internal static void CheckText(string? text, string field, string who)
    {
        if (text is null)
        {
            throw new DatasetException($"{field} of {who} is null.");
        }
        if (HasLoneSurrogate(text))
        {
            throw new DatasetException($"{field} of {who} is not valid UTF-16 text (it has a lone surrogate).");
        }
    }

    private static bool HasLoneSurrogate(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return true;
            }
        }
        return false;
    }

    private static void CheckFinite(double value, string field, string who)
    {
        if (!double.IsFinite(value))
        {
            throw new DatasetException($"{field} of {who} is {value}; scores must be finite numbers.");
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Only reached with open streams when the write failed; the staging folder is deleted next.
        if (_llava is not null)
        {
            await _llava.DisposeAsync().ConfigureAwait(false);
        }
        await _recordJson.DisposeAsync().ConfigureAwait(false);
        foreach (var stream in new Stream?[] { _llavaStream, _manifest, _timings, _shardStream })
        {
            if (stream is not null)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
