using System.Globalization;
using SynthVlm.Blobs;

namespace SynthVlm.Runs;

/// <summary>
/// The durable record of a run, next to its images in the blob store (DESIGN.md §3): the config
/// (written before Submit answers), one score file per scored image and one record per dropped
/// pool record, each written to a temporary name and renamed. Redis can lose its last second of
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
    /// Every score file of the run as (caption index, variant, path), ordered by caption index then
    /// variant; one bucket is listed at a time.
    /// </summary>
    public static IEnumerable<(long CaptionIndex, int Variant, string Path)> EnumerateScores(FileBlobStore store, string run)
    {
        ArgumentNullException.ThrowIfNull(store);
        foreach (var bucket in Buckets(store.PathOf($"{Folder(run)}/scores")))
        {
            var files = new List<(long, int, string)>();
            foreach (var path in Directory.EnumerateFiles(bucket, "*.pb"))
            {
                var name = Path.GetFileName(path.AsSpan());
                // {index:D12}.{variant:D2}.pb
                var dot = name.IndexOf('.');
                if (dot > 0 && long.TryParse(name[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                    && int.TryParse(name[(dot + 1)..^3], NumberStyles.None, CultureInfo.InvariantCulture, out var variant))
                {
                    files.Add((index, variant, path));
                }
            }
            files.Sort((a, b) => a.Item1 != b.Item1 ? a.Item1.CompareTo(b.Item1) : a.Item2.CompareTo(b.Item2));
            foreach (var file in files)
            {
                yield return file;
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
