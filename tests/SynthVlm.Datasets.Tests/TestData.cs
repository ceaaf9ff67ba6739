using System.Runtime.CompilerServices;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Datasets.Tests;

/// <summary>Small images, items and a temporary folder for dataset tests.</summary>
internal sealed class TestData : IDisposable
{
    private readonly Dictionary<string, byte[]> _images = new(StringComparer.Ordinal);

    public TestData()
    {
        Root = Path.Combine(Path.GetTempPath(), "synthvlm-datasets-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public int Reads { get; private set; }

    public IReadOnlyDictionary<string, byte[]> Images => _images;

    public static byte[] Png(int width, int height, int seed)
    {
        var pixels = new byte[width * height * 3];
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)((i * 31) + (seed * 57) + (i / 7));
        }
        using var image = RgbImage.FromPixels(width, height, pixels);
        return ImageCodec.Encode(image, ImageFormat.Png);
    }

    public DatasetItem Item(string id, int index, double lambda = 0.5)
    {
        var key = $"runs/r/images/{index}/0.png";
        _images[key] = Png(8 + (index % 3), 6, index);
        var clip = 0.2 + (0.01 * index);
        var ssim = 0.1 + (0.013 * index);
        return new DatasetItem
        {
            Id = id,
            Caption = $"a caption for {id} — number {index}",
            ImageKey = key,
            Variant = index % 4,
            Seed = (ulong)(1_000_000_007L * (index + 1)),
            Clip = clip,
            Ssim = ssim,
            Weighted = clip + (lambda * ssim),
            Lambda = lambda,
            Cosine = clip / 2.5,
            CaptionTruncated = index % 2 == 1,
            GenerationModel = "sdxl-base-1.0",
            ClipModel = "clip-vit-large-patch14",
            GenerationSettings = new Dictionary<string, string> { ["steps"] = "30", ["guidance"] = "7.5", ["height"] = "1024", ["a_first"] = "x" },
            Timings = new Dictionary<string, double> { ["generate"] = 1.5 + index, ["score"] = 0.25 },
        };
    }

    public List<DatasetItem> Items(int count, double lambda = 0.5) =>
        Enumerable.Range(0, count).Select(i => Item($"cap-{i:D3}", i, lambda)).ToList();

    public ValueTask<byte[]> ReadImage(string key, CancellationToken cancellationToken)
    {
        Reads++;
        return ValueTask.FromResult(_images.TryGetValue(key, out var bytes) ? bytes : throw new FileNotFoundException($"no blob '{key}'"));
    }

    public static ScoreStatistics Statistics(IEnumerable<DatasetItem> generated, double lambda = 0.5, int bins = 20)
    {
        var stats = new ScoreStatistics(lambda, bins);
        foreach (var item in generated)
        {
            stats.Add(item.Clip, item.Ssim, item.Weighted);
        }
        return stats;
    }

    public static DatasetRunInfo Run(string runId = "run-1", double lambda = 0.5) => new()
    {
        RunId = runId,
        Created = new DateTimeOffset(2026, 11, 22, 7, 0, 0, TimeSpan.Zero),
        Lambda = lambda,
        SelectionRule = "top 5 of 12 by weighted score",
        CurationCounts = [new("kept", 12), new("duplicate caption", 3), new("alnum_ratio below 0.6", 1)],
        Notes = ["test run"],
    };

    public static async IAsyncEnumerable<DatasetItem> Stream(IEnumerable<DatasetItem> items, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var item in items)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await Task.Yield();
            yield return item;
        }
    }

    public Task<DatasetResult> WriteAsync(string folder, IReadOnlyList<DatasetItem> items, DatasetOptions? options = null, DatasetRunInfo? run = null, ScoreStatistics? all = null)
    {
        run ??= Run();
        options ??= new DatasetOptions();
        all ??= Statistics(items, run.Lambda, options.HistogramBins);
        return DatasetWriter.WriteAsync(Path.Combine(Root, folder), run, Stream(items), all, ReadImage, options, CancellationToken.None);
    }

    public void Dispose()
    {
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }
}
