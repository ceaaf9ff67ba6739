using SynthVlm.Blobs;

namespace SynthVlm.Runs.Tests;

public sealed class RunRecordsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("records-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public async Task Scores_enumerate_in_caption_then_variant_order_across_buckets_and_temporaries_are_ignored()
    {
        var store = new FileBlobStore(_dir.FullName);
        long[] indexes = [5000, 3, 4096, 4095, 0, 9000];
        foreach (var i in indexes)
        {
            foreach (var v in new[] { 1, 0 })
            {
                await store.WriteAsync(RunRecords.Score("r1", i, v), new byte[] { 1 });
            }
        }
        File.WriteAllText(store.PathOf(RunRecords.Score("r1", 7, 0)) + ".123.abc.tmp", "partial");
        var listed = RunRecords.EnumerateScores(store, "r1").Select(s => (s.CaptionIndex, s.Variant)).ToList();
        listed.Should().Equal(indexes.Order().SelectMany(i => new[] { (i, 0), (i, 1) }));
        RunRecords.EnumerateScores(store, "unknown-run").Should().BeEmpty();
    }

    [Fact]
    public void Record_keys_of_a_hostile_run_id_stay_inside_the_store()
    {
        BlobKey.IsValid(RunRecords.Score("../../etc", 1, 0)).Should().BeTrue();
        RunRecords.Folder("../../etc").Should().NotContain("..");
        RunRecords.Rejection("a/b", 3).Should().StartWith("runs/a_b-");
    }
}
