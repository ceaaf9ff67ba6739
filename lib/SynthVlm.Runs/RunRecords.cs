using System.Globalization;
using SynthVlm.Blobs;

namespace SynthVlm.Runs;

/// <summary>
/// The durable record of a run, next to its images in the blob store (DESIGN.md §3): the config
/// (written before Submit answers), the score record of every scored image (appended to the
/// selection replicas' group-committed log segments, or one file per image), and one record per
/// dropped pool record (written to a temporary name and renamed). Redis can lose its last second of
/// writes; these files cannot, and the dataset is computed from them alone.
/// Files are grouped in buckets of <see cref="BucketSize"/> pool positions so that a bucket can be
/// listed and sorted with memory bounded by the bucket, whatever the pool size.
/// </summary>
public static class RunRecords
{
    /// <summary>Pool positions per bucket folder.</summary>
    public const int BucketSize = 4096;

    /// <summary>The run's folder key.</summary>
    public static string Folder(string run) => $"runs/{BlobKey.Segment(run)}";

    /// <summary>Key of the run's config (RunConfig protobuf).</summary>
    public static string Config(string run) => $"{Folder(run)}/run.pb";

    /// <summary>Key of the score record (ScoredImage protobuf) of one image.</summary>
    public static string Score(string run, long captionIndex, int variant) =>
        string.Create(CultureInfo.InvariantCulture, $"{Folder(run)}/scores/{captionIndex / BucketSize:D8}/{captionIndex:D12}.{variant:D2}.pb");

    /// <summary>Key of the record of a dropped pool record (JSON).</summary>
    public static string Rejection(string run, long index) =>
        string.Create(CultureInfo.InvariantCulture, $"{Folder(run)}/rejected/{index / BucketSize:D8}/{index:D12}.json");

    /// <summary>Key of the LLM judge's verdict on one caption (JSON), whatever it was.</summary>
    public static string JudgeVerdict(string run, long index) =>
        string.Create(CultureInfo.InvariantCulture, $"{Folder(run)}/judge/{index / BucketSize:D8}/{index:D12}.json");

    /// <summary>Key of a caption with its image waiting for the top-fraction decision (CurationSurvivor protobuf).</summary>
    public static string Survivor(string run, long index) =>
        string.Create(CultureInfo.InvariantCulture, $"{Folder(run)}/survivors/{index / BucketSize:D8}/{index:D12}.pb");

    /// <summary>Every survivor record of the run, in pool order.</summary>
    public static IEnumerable<string> EnumerateSurvivors(FileBlobStore store, string run)
    {
        ArgumentNullException.ThrowIfNull(store);
        foreach (var bucket in Buckets(store.PathOf($"{Folder(run)}/survivors")))
        {
            var files = Directory.GetFiles(bucket, "*.pb");
            Array.Sort(files, StringComparer.Ordinal);
            foreach (var file in files)
            {
                yield return file;
            }
        }
    }

    /// <summary>
    /// Every score record of the run, one per (caption index, variant), ordered by caption index then
    /// variant: the per-image files (<see cref="Score"/>) and the frames of the group-committed log
    /// segments (<see cref="ScoreLogWriter"/>). When an image was recorded more than once (a
    /// redelivered entry), the first in a fixed order wins: files, then segments by name, then by
    /// position. A torn last frame (a writer killed mid-append, never acknowledged) is skipped. One
    /// bucket is held in memory at a time.
    /// </summary>
    public static IEnumerable<StoredScore> EnumerateScores(FileBlobStore store, string run)
    {
        foreach (var (score, _) in ScoresByBucket(store, run, withRecords: false))
        {
            yield return score;
        }
    }

    /// <summary>Like <see cref="EnumerateScores"/>, with each record's bytes (a ScoredImage).</summary>
    public static IEnumerable<(StoredScore Score, ReadOnlyMemory<byte> Record)> ReadScores(FileBlobStore store, string run) =>
        ScoresByBucket(store, run, withRecords: true);

    /// <summary>The folder key of the bucket holding <paramref name="captionIndex"/>'s score records.</summary>
    public static string ScoreBucket(string run, long captionIndex) =>
        string.Create(CultureInfo.InvariantCulture, $"{Folder(run)}/scores/{captionIndex / BucketSize:D8}");

    private static IEnumerable<(StoredScore, ReadOnlyMemory<byte>)> ScoresByBucket(FileBlobStore store, string run, bool withRecords)
    {
        ArgumentNullException.ThrowIfNull(store);
        foreach (var bucket in Buckets(store.PathOf($"{Folder(run)}/scores")))
        {
            var found = new List<(StoredScore Score, int Order, ReadOnlyMemory<byte> Record)>();
            foreach (var path in Directory.EnumerateFiles(bucket, "*.pb"))
            {
                var name = Path.GetFileName(path.AsSpan());
                // {index:D12}.{variant:D2}.pb
                var dot = name.IndexOf('.');
                if (dot > 0 && long.TryParse(name[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                    && int.TryParse(name[(dot + 1)..^3], NumberStyles.None, CultureInfo.InvariantCulture, out var variant))
                {
                    var record = withRecords ? File.ReadAllBytes(path) : ReadOnlyMemory<byte>.Empty;
                    found.Add((new StoredScore(index, variant, new ScoreRecordLocation(path, 0, -1)), found.Count, record));
                }
            }
            var segments = Directory.GetFiles(bucket, "*" + ScoreLogFormat.Extension);
            Array.Sort(segments, StringComparer.Ordinal);
            foreach (var segment in segments)
            {
                var bytes = File.ReadAllBytes(segment);
                var offset = 0;
                while (ScoreLogFormat.TryReadFrame(bytes.AsSpan(offset), out var index, out var variant, out var length))
                {
                    var start = offset + ScoreLogFormat.HeaderSize;
                    found.Add((new StoredScore(index, variant, new ScoreRecordLocation(segment, start, length)), found.Count,
                        withRecords ? bytes.AsMemory(start, length) : ReadOnlyMemory<byte>.Empty));
                    offset = start + length;
                }
            }
            found.Sort((a, b) =>
                a.Score.CaptionIndex != b.Score.CaptionIndex ? a.Score.CaptionIndex.CompareTo(b.Score.CaptionIndex)
                : a.Score.Variant != b.Score.Variant ? a.Score.Variant.CompareTo(b.Score.Variant)
                : a.Order.CompareTo(b.Order));
            for (var i = 0; i < found.Count; i++)
            {
                if (i > 0 && found[i].Score.CaptionIndex == found[i - 1].Score.CaptionIndex && found[i].Score.Variant == found[i - 1].Score.Variant)
                {
                    continue;
                }
                yield return (found[i].Score, found[i].Record);
            }
        }
    }

    /// <summary>Every rejection record of the run, in pool order.</summary>
    public static IEnumerable<string> EnumerateRejections(FileBlobStore store, string run)
    {
        ArgumentNullException.ThrowIfNull(store);
        foreach (var bucket in Buckets(store.PathOf($"{Folder(run)}/rejected")))
        {
            var files = Directory.GetFiles(bucket, "*.json");
            Array.Sort(files, StringComparer.Ordinal);
            foreach (var file in files)
            {
                yield return file;
            }
        }
    }

    private static IEnumerable<string> Buckets(string folder)
    {
        if (!Directory.Exists(folder))
        {
            return [];
        }
        var buckets = Directory.GetDirectories(folder);
        Array.Sort(buckets, StringComparer.Ordinal);
        return buckets;
    }
}

/// <summary>A score record of a run: its image's pool position and variant, and where it is stored.</summary>
public readonly record struct StoredScore(long CaptionIndex, int Variant, ScoreRecordLocation Location);

/// <summary>
/// Where a score record is: a whole file (<see cref="Length"/> -1) or a frame's payload inside a
/// log segment.
/// </summary>
public readonly record struct ScoreRecordLocation(string Path, long Offset, int Length)
{
    /// <summary>Reads the record's bytes.</summary>
    public byte[] Read()
    {
        if (Length < 0)
        {
            return File.ReadAllBytes(Path);
        }
        var bytes = new byte[Length];
        using var handle = File.OpenHandle(Path);
        var read = 0;
        while (read < Length)
        {
            var n = RandomAccess.Read(handle, bytes.AsSpan(read), Offset + read);
            if (n == 0)
            {
                throw new InvalidDataException($"score log '{Path}' ends before the record at offset {Offset} ({Length} bytes).");
            }
            read += n;
        }
        return bytes;
    }

    /// <inheritdoc />
    public override string ToString() => Length < 0 ? Path : string.Create(CultureInfo.InvariantCulture, $"{Path}@{Offset}");
}
