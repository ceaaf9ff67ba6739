using SynthVlm.Testing;

namespace SynthVlm.Tokenizers.Tests;

public sealed class ConcurrencyAndAllocationTests
{
    private static string[] ManyTexts()
    {
        var texts = BpeTrainer.TinyCorpus.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        texts.AddRange(Fixtures.ReferenceRows(Fixtures.Clip).Select(r => r.Text));
        return [.. texts];
    }

    [Fact]
    public async Task Parallel_encode_on_a_cold_cache_equals_serial_encode()
    {
        var texts = ManyTexts();
        var serialTokenizer = ClipTokenizer.FromFolder(Fixtures.Folder(Fixtures.Clip));
        var serial = texts.Select(t => serialTokenizer.Encode(t, 200).Ids.ToArray()).ToArray();

        var shared = ClipTokenizer.FromFolder(Fixtures.Folder(Fixtures.Clip));
        var parallel = new int[texts.Length][];
        var workers = Enumerable.Range(0, 8).Select(w => Task.Run(() =>
        {
            // Every worker walks all texts from a different start, so they race on the same cache entries.
            for (var k = 0; k < texts.Length; k++)
            {
                var i = (k + (w * texts.Length / 8)) % texts.Length;
                var ids = shared.Encode(texts[i], 200).Ids.ToArray();
                if (w == 0)
                {
                    parallel[i] = ids;
                }
                else if (!ids.AsSpan().SequenceEqual(serial[i]))
                {
                    throw new InvalidOperationException($"worker {w} text {i} differs");
                }
            }
        }));
        await Task.WhenAll(workers).WithTimeout();

        parallel.Should().BeEquivalentTo(serial, o => o.WithStrictOrdering());
    }

    [Fact]
    public void Encode_of_a_cached_caption_allocates_only_the_result()
    {
        var tokenizer = ClipTokenizer.FromFolder(Fixtures.Folder(Fixtures.Clip));
        const string caption = "A red bus parked on a city street at night, with people walking by.";
        var warm = tokenizer.Encode(caption);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var result = tokenizer.Encode(caption);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        result.Ids.Should().Equal(warm.Ids);
        // The result: an int[] (16-byte header + length, 4 bytes per id) and the TokenizedText object.
        var resultBytes = 24 + (4 * result.Length) + 48;
        allocated.Should().BeLessThanOrEqualTo(resultBytes, "only the returned ids and their wrapper may be allocated");
    }

    [Fact]
    public void Encode_batch_of_cached_captions_allocates_nothing()
    {
        var tokenizer = ClipTokenizer.FromFolder(Fixtures.Folder(Fixtures.Clip));
        string[] texts = ["A red bus parked on a city street at night.", "Two dogs aren't allowed on the couch!", "café naïve Zürich"];
        var ids = new long[3 * 77];
        var mask = new long[3 * 77];
        var truncated = new bool[3];
        tokenizer.EncodeBatch(texts, ids, mask, 77, truncated);

        var before = GC.GetAllocatedBytesForCurrentThread();
        tokenizer.EncodeBatch(texts, ids, mask, 77, truncated);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        allocated.Should().Be(0);
    }
}
