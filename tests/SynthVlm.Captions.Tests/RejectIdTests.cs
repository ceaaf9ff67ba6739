namespace SynthVlm.Captions.Tests;

/// <summary>A rejected record keeps the id its input gave (issue 19 point 6).</summary>
public sealed class RejectIdTests : IDisposable
{
    private readonly PoolFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void An_empty_caption_is_rejected_with_its_id()
    {
        var path = _files.Write("pool.jsonl",
            "{\"id\":\"c0120\",\"caption\":\"\"}\n" +
            "{\"id\":\"c0121\",\"caption\":\"  \"}\n" +
            "{\"id\":\"c0122\",\"caption\":42}\n" +
            "{\"caption\":\"\"}\n" +
            "{\"id\":\"c0123\",\"caption\":\"ok\"}\n" +
            "{\"id\":\"c0124\",\"caption\":\"broken\"\n");
        var records = PoolFiles.ReadAll(path);
        records.Take(4).Should().AllBeOfType<PoolReject>();
        records.Take(4).Cast<PoolReject>().Select(r => (r.Id, r.Line)).Should().Equal(("c0120", 1L), ("c0121", 2L), ("c0122", 3L), (null, 4L));
        ((PoolReject)records[0]).Reason.Should().Be("caption field 'caption' is empty");
        records[4].Should().BeOfType<PoolCaption>().Which.Id.Should().Be("c0123");
        // Malformed JSON gives no id to trust.
        records[5].Should().BeOfType<PoolReject>().Which.Id.Should().BeNull();
    }

    [Fact]
    public void Csv_and_llava_rejects_keep_their_ids_too()
    {
        var csv = _files.Write("pool.csv", "id,caption\nc0120,\nc0121,fine\n");
        var rows = PoolFiles.ReadAll(csv);
        rows[0].Should().BeOfType<PoolReject>().Which.Id.Should().Be("c0120");
        var llava = _files.Write("llava.json",
            "[{\"id\":\"c0120\",\"image\":\"a.jpg\",\"conversations\":[{\"from\":\"human\",\"value\":\"<image>\"},{\"from\":\"gpt\",\"value\":\"\"}]}]");
        var turns = PoolFiles.ReadAll(llava);
        turns[0].Should().BeOfType<PoolReject>().Which.Id.Should().Be("c0120");
    }
}
