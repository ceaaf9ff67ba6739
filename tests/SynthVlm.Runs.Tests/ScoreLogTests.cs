using SynthVlm.Blobs;
using SynthVlm.Testing;

namespace SynthVlm.Runs.Tests;

public sealed class ScoreLogTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("score-log-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static byte[] Record(long index, int variant) => System.Text.Encoding.UTF8.GetBytes($"record {index}/{variant} " + new string('x', (int)(index % 50)));

    [Fact]
    public async Task Concurrent_appends_are_all_durable_once_awaited_and_read_back_once_each_in_order()
    {
        var store = new FileBlobStore(_dir.FullName);
        long[] indexes = [.. Enumerable.Range(0, 300).Select(i => (long)((i * 7919) % 9000))];
        await using (var writer = new ScoreLogWriter(store, "selection-0"))
        {
            var appends = indexes.SelectMany(i => new[] { 0, 1 }.Select(v => (i, v)))
                .Select(p => Task.Run(() => writer.AppendAsync("r1", p.i, p.v, Record(p.i, p.v))));
            await Task.WhenAll(appends).WithTimeout();
            // Awaited means on disk: readable before the writer is disposed.
            RunRecords.EnumerateScores(store, "r1").Should().HaveCount(indexes.Distinct().Count() * 2);
        }

        var read = RunRecords.ReadScores(store, "r1").Select(r => (r.Score.CaptionIndex, r.Score.Variant, Text: System.Text.Encoding.UTF8.GetString(r.Record.Span))).ToList();
        var expected = indexes.Distinct().Order().SelectMany(i => new[] { (i, 0), (i, 1) }).ToList();
        read.Select(r => (r.CaptionIndex, r.Variant)).Should().Equal(expected);
        read.Should().OnlyContain(r => r.Text == System.Text.Encoding.UTF8.GetString(Record(r.CaptionIndex, r.Variant)));

        // The independent reader (own framing, bitwise CRC-32) sees the same records; buckets split at 4096.
        var independent = ScoreLogFiles.ReadAll(store.PathOf(RunRecords.Folder("r1")));
        independent.Select(f => (f.CaptionIndex, f.Variant)).Order().Should().Equal(expected);
        independent.Should().OnlyContain(f => f.Payload.SequenceEqual(Record(f.CaptionIndex, f.Variant)));
        Directory.GetDirectories(store.PathOf($"{RunRecords.Folder("r1")}/scores")).Select(Path.GetFileName).Order().Should().Equal("00000000", "00000001", "00000002");
        foreach (var score in RunRecords.EnumerateScores(store, "r1").Take(5))
        {
            score.Location.Read().Should().Equal(Record(score.CaptionIndex, score.Variant));
        }
    }

    [Fact]
    public async Task A_torn_or_corrupt_frame_ends_its_segment_and_nothing_before_it_is_lost()
    {
        var store = new FileBlobStore(_dir.FullName);
        await using (var writer = new ScoreLogWriter(store, "selection-1"))
        {
            for (var i = 0; i < 5; i++)
            {
                await writer.AppendAsync("r2", i, 0, Record(i, 0)).WithTimeout();
            }
        }
        var segment = Directory.GetFiles(store.PathOf(RunRecords.Folder("r2")), "*.scores", SearchOption.AllDirectories).Should().ContainSingle().Subject;
        var whole = File.ReadAllBytes(segment);

        // A writer killed mid-append leaves part of a frame: the first 30 bytes of another copy of frame 0.
        File.WriteAllBytes(segment, [.. whole, .. whole.AsSpan(0, 30).ToArray()]);
        RunRecords.EnumerateScores(store, "r2").Select(s => s.CaptionIndex).Should().Equal(0, 1, 2, 3, 4);

        // A flipped payload byte in frame 3: frames 0-2 stay, the rest of that segment is not trusted.
        var corrupt = (byte[])whole.Clone();
        var frame3 = (3 * 24) + Record(0, 0).Length + Record(1, 0).Length + Record(2, 0).Length;
        corrupt[frame3 + 24 + 2] ^= 0x40;
        File.WriteAllBytes(segment, corrupt);
        RunRecords.EnumerateScores(store, "r2").Select(s => s.CaptionIndex).Should().Equal(0, 1, 2);
        ScoreLogFiles.ReadSegment(corrupt).Select(f => f.CaptionIndex).Should().Equal(0, 1, 2);
    }

    [Fact]
    public async Task A_record_written_twice_is_read_once_files_first_then_segments_by_name()
    {
        var store = new FileBlobStore(_dir.FullName);
        await store.WriteAsync(RunRecords.Score("r3", 7, 0), "from a file"u8.ToArray());
        await using (var a = new ScoreLogWriter(store, "a"))
        {
            await a.AppendAsync("r3", 7, 0, "from segment a"u8.ToArray()).WithTimeout();
            await a.AppendAsync("r3", 8, 0, "8 from a, first"u8.ToArray()).WithTimeout();
            await a.AppendAsync("r3", 8, 0, "8 from a, second"u8.ToArray()).WithTimeout();
        }
        await using (var b = new ScoreLogWriter(store, "b"))
        {
            await b.AppendAsync("r3", 8, 0, "8 from b"u8.ToArray()).WithTimeout();
            await b.AppendAsync("r3", 9, 1, "9 from b"u8.ToArray()).WithTimeout();
        }
        RunRecords.ReadScores(store, "r3").Select(r => System.Text.Encoding.UTF8.GetString(r.Record.Span))
            .Should().Equal("from a file", "8 from a, first", "9 from b");
    }

    [Fact]
    public async Task Every_writer_process_appends_to_its_own_new_segments()
    {
        var store = new FileBlobStore(_dir.FullName);
        for (var restart = 0; restart < 2; restart++)
        {
            await using var writer = new ScoreLogWriter(store, "selection-0");
            await writer.AppendAsync("r4", restart, 0, Record(restart, 0)).WithTimeout();
        }
        // A restarted replica never appends after a tail its predecessor may have torn.
        Directory.GetFiles(store.PathOf(RunRecords.Folder("r4")), "*.scores", SearchOption.AllDirectories).Should().HaveCount(2)
            .And.OnlyContain(f => Path.GetFileName(f).StartsWith("selection-0.", StringComparison.Ordinal));
        RunRecords.EnumerateScores(store, "r4").Select(s => s.CaptionIndex).Should().Equal(0, 1);
    }

    [Fact]
    public async Task More_segments_than_may_stay_open_are_closed_and_reopened_for_append()
    {
        var store = new FileBlobStore(_dir.FullName);
        await using (var writer = new ScoreLogWriter(store, "s", maxOpenSegments: 2))
        {
            // Three runs, round robin: every append past the second run closes the least recently used segment.
            for (var i = 0; i < 4; i++)
            {
                foreach (var run in new[] { "ra", "rb", "rc" })
                {
                    await writer.AppendAsync(run, i, 0, Record(i, 0)).WithTimeout();
                }
            }
        }
        foreach (var run in new[] { "ra", "rb", "rc" })
        {
            Directory.GetFiles(store.PathOf(RunRecords.Folder(run)), "*.scores", SearchOption.AllDirectories).Should().ContainSingle();
            RunRecords.EnumerateScores(store, run).Select(s => s.CaptionIndex).Should().Equal(0, 1, 2, 3);
        }
    }

    [Fact]
    public async Task Bad_arguments_are_refused_naming_them_and_a_disposed_writer_refuses_appends()
    {
        var store = new FileBlobStore(_dir.FullName);
        var writer = new ScoreLogWriter(store, "w");
        FluentActions.Invoking(() => { _ = writer.AppendAsync("r5", -1, 0, Record(0, 0)); }).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("captionIndex");
        FluentActions.Invoking(() => { _ = writer.AppendAsync("r5", 0, -2, Record(0, 0)); }).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("variant");
        FluentActions.Invoking(() => { _ = writer.AppendAsync(" ", 0, 0, Record(0, 0)); }).Should().Throw<ArgumentException>().WithParameterName("run");
        await writer.DisposeAsync();
        FluentActions.Invoking(() => { _ = writer.AppendAsync("r5", 0, 0, Record(0, 0)); }).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public async Task Records_queued_when_the_writer_is_disposed_are_still_committed()
    {
        var store = new FileBlobStore(_dir.FullName);
        var writer = new ScoreLogWriter(store, "w");
        var appends = Enumerable.Range(0, 200).Select(i => writer.AppendAsync("r6", i, 0, Record(i, 0))).ToList();
        await writer.DisposeAsync();
        await Task.WhenAll(appends).WithTimeout();
        RunRecords.EnumerateScores(store, "r6").Should().HaveCount(200);
    }

    [Fact]
    public async Task A_failed_write_fails_only_its_records_names_the_run_and_the_writer_goes_on()
    {
        var store = new FileBlobStore(_dir.FullName);
        // A file where the run's scores folder should be: creating the segment fails.
        var blocked = store.PathOf($"{RunRecords.Folder("blocked")}/scores");
        Directory.CreateDirectory(Path.GetDirectoryName(blocked)!);
        File.WriteAllText(blocked, "not a folder");
        await using var writer = new ScoreLogWriter(store, "w");

        var failed = () => writer.AppendAsync("blocked", 0, 0, Record(0, 0)).WithTimeout();
        (await failed.Should().ThrowAsync<IOException>()).WithMessage("*run 'blocked'*");
        await writer.AppendAsync("fine", 0, 0, Record(0, 0)).WithTimeout();

        File.Delete(blocked);
        await writer.AppendAsync("blocked", 1, 0, Record(1, 0)).WithTimeout();
        RunRecords.EnumerateScores(store, "blocked").Select(r => r.CaptionIndex).Should().Equal(1);
        RunRecords.EnumerateScores(store, "fine").Select(r => r.CaptionIndex).Should().Equal(0);
    }
}
