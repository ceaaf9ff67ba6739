using System.Globalization;
using SynthVlm.Blobs;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Datasets;

/// <summary>
/// The names inside a dataset folder; they are part of the contract with the tools that read it.
/// <list type="bullet">
/// <item><c>llava.json</c>: LLaVA pre-training format, a JSON array of
/// <c>{"id", "image", "conversations": [{"from": "human", "value": prompt + "\n&lt;image&gt;"}, {"from": "gpt", "value": caption}]}</c>.</item>
/// <item><c>images/{folder:D5}/{file}</c>: folder = rank / <see cref="DatasetOptions.ImagesPerFolder"/>,
/// file = <see cref="BlobKey.Segment"/>(id) + extension.</item>
/// <item><c>manifest.jsonl</c>: one JSON record per item, same order as <c>llava.json</c>; byte-identical for the same inputs.</item>
/// <item><c>timings.jsonl</c>: <c>{"id", "timings"}</c> per item (kept out of the manifest).</item>
/// <item><c>shards/{prefix}-{n:D6}.tar</c>: WebDataset shards with <c>{key}.{png|jpg|webp}</c>, <c>{key}.txt</c>, <c>{key}.json</c> per sample.</item>
/// <item><c>report.md</c> and <c>histograms/{clip,ssim,weighted}.svg</c>: scores of all generated vs selected images.</item>
/// <item><c>dataset.json</c>: the completion marker (format, version, run id, counts), written last.</item>
/// </list>
/// Ranks are 0-based: rank 0 is the best item.
/// </summary>
public static class DatasetLayout
{
    /// <summary>The LLaVA pre-training JSON array.</summary>
    public const string LlavaJson = "llava.json";

    /// <summary>One JSON record per item.</summary>
    public const string Manifest = "manifest.jsonl";

    /// <summary>One timings record per item.</summary>
    public const string Timings = "timings.jsonl";

    /// <summary>The human-readable report.</summary>
    public const string Report = "report.md";

    /// <summary>The completion marker, written last.</summary>
    public const string Marker = "dataset.json";

    /// <summary>The folder of image folders.</summary>
    public const string ImagesFolder = "images";

    /// <summary>The folder of WebDataset tar shards.</summary>
    public const string ShardsFolder = "shards";

    /// <summary>The folder of the report's SVG histograms.</summary>
    public const string HistogramsFolder = "histograms";

    /// <summary>The <c>format</c> value of the completion marker.</summary>
    public const string FormatName = "synthvlm-dataset";

    /// <summary>The version of this layout, stored in the completion marker.</summary>
    public const int FormatVersion = 1;

    /// <summary>The file extension (no dot) of images in <paramref name="format"/>: png, jpg or webp.</summary>
    public static string Extension(ImageFormat format) => format switch
    {
        ImageFormat.Png => "png",
        ImageFormat.Jpeg => "jpg",
        ImageFormat.WebP => "webp",
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "A dataset image is Png, Jpeg or WebP."),
    };

    /// <summary>The relative, '/'-separated path of an item's image: <c>images/{rank / imagesPerFolder:D5}/{Segment(id)}.{ext}</c>.</summary>
    public static string ImagePath(long rank, string id, int imagesPerFolder, ImageFormat format)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        ArgumentOutOfRangeException.ThrowIfLessThan(imagesPerFolder, 1);
        var folder = (rank / imagesPerFolder).ToString("D5", CultureInfo.InvariantCulture);
        return $"{ImagesFolder}/{folder}/{BlobKey.Segment(id)}.{Extension(format)}";
    }

    /// <summary>
    /// The WebDataset sample key of an item: rank as 9 digits, '_', and the safe segment of the id
    /// with '.' turned into '_', because WebDataset splits a member name at its first dot.
    /// </summary>
    public static string SampleKey(long rank, string id)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rank);
        return $"{rank.ToString("D9", CultureInfo.InvariantCulture)}_{BlobKey.Segment(id).Replace('.', '_')}";
    }

    /// <summary>The shard prefix for a run: the run id's safe segment with '.' turned into '_'.</summary>
    public static string ShardPrefix(string runId) => BlobKey.Segment(runId).Replace('.', '_');

    /// <summary>The relative path of shard <paramref name="index"/>: <c>shards/{prefix}-{index:D6}.tar</c>.</summary>
    public static string ShardPath(string runId, int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return $"{ShardsFolder}/{ShardPrefix(runId)}-{index.ToString("D6", CultureInfo.InvariantCulture)}.tar";
    }
}
