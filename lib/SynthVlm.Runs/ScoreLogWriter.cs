using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Threading.Channels;
using SynthVlm.Blobs;
using SynthVlm.IO;

namespace SynthVlm.Runs;

/// <summary>
/// Writes score records with group commit: records handed in concurrently are appended to this
/// writer's own log segments (one per run and bucket, <see cref="ScoreLogFormat"/>) and made
/// durable by one fsync per segment per batch; each <see cref="AppendAsync"/> completes only after
/// the fsync that covers its record, so a caller that acknowledges its input afterwards keeps the
/// at-least-once contract of a per-record fsync at a fraction of the cost. While one batch is being
/// flushed, the next one gathers, so the batch size follows the load with no added wait.
/// A segment is appended to only by the writer that created it (its name carries the writer's name
/// and a per-process id); after a failed write the segment is abandoned, never appended to again,
/// so the only torn frame a segment can hold is its last one, which readers skip.
/// </summary>
public sealed class ScoreLogWriter : IAsyncDisposable
{
    /// <summary>The meter of the score log ("SynthVlm.Runs").</summary>
    public static readonly Meter Meter = new(RunTelemetry.SourceName);

    private static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>("synthvlm.score_log.batch_size", "{record}", "Score records made durable by one group commit.");
    private static readonly Histogram<double> CommitDuration = Meter.CreateHistogram<double>("synthvlm.score_log.commit.duration", "s", "Time of one group commit (append and fsync of every touched segment).");

    private readonly FileBlobStore _store;
    private readonly string _writerName;
    private readonly int _maxBatch;
    private readonly int _maxOpenSegments;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    // Open segments by (run folder, bucket), most recently used last.
    private readonly Dictionary<string, Segment> _open = new(StringComparer.Ordinal);
    private readonly LinkedList<string> _recent = new();
    // Segments that may be appended to again (their last write was committed); others are abandoned.
    private readonly Dictionary<string, string> _segmentPaths = new(StringComparer.Ordinal);
    private readonly string _processId = Guid.NewGuid().ToString("N")[..12];
    private readonly Task _loop;
    private int _sequence;

    /// <summary>Creates a writer that appends to segments named after <paramref name="writerName"/>.</summary>
    /// <param name="store">The blob store holding the runs' records.</param>
    /// <param name="writerName">This writer's name (the replica's instance name); sanitised for file names.</param>
    /// <param name="maxBatch">Most records made durable by one commit.</param>
    /// <param name="maxOpenSegments">Most segment files kept open at once (least recently used ones are closed).</param>
    public ScoreLogWriter(FileBlobStore store, string writerName, int maxBatch = 1024, int maxOpenSegments = 32)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrWhiteSpace(writerName);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxOpenSegments, 1);
        _store = store;
        _writerName = BlobKey.Segment(writerName).Replace('.', '_');
        _maxBatch = maxBatch;
        _maxOpenSegments = maxOpenSegments;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>
    /// Appends the score record of (<paramref name="run"/>, <paramref name="captionIndex"/>,
    /// <paramref name="variant"/>) and completes once it is on disk. Cancelling stops the wait, not
    /// necessarily the write (writing a record twice is harmless: readers keep one per key).
    /// </summary>
    /// <exception cref="IOException">The record could not be written or flushed.</exception>
    public Task AppendAsync(string run, long captionIndex, int variant, ReadOnlyMemory<byte> record, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(run);
        ArgumentOutOfRangeException.ThrowIfNegative(captionIndex);
        ArgumentOutOfRangeException.ThrowIfNegative(variant);
        if (record.Length > ScoreLogFormat.MaxPayload)
        {
            throw new ArgumentException($"score record of {record.Length} bytes is larger than {ScoreLogFormat.MaxPayload}.", nameof(record));
        }
        var pending = new Pending(run, captionIndex, variant, record, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(ScoreLogWriter));
        }
        return pending.Done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Commits what is queued, then closes every segment.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        var batch = new List<Pending>(_maxBatch);
        try
        {
            while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
            {
                batch.Clear();
                while (batch.Count < _maxBatch && _queue.Reader.TryRead(out var pending))
                {
                    batch.Add(pending);
                }
                Commit(batch);
            }
        }
        finally
        {
            foreach (var segment in _open.Values)
            {
                segment.Stream.Dispose();
            }
            _open.Clear();
        }
    }

    private void Commit(List<Pending> batch)
    {
        var started = Stopwatch.GetTimestamp();
        foreach (var group in batch.GroupBy(p => SegmentKey(p.Run, p.CaptionIndex), StringComparer.Ordinal))
        {
            var records = group.ToList();
            try
            {
                var segment = Open(group.Key, records[0].Run, records[0].CaptionIndex);
                Append(segment.Stream, records);
                // fsync(2): the data, and for a new file its metadata; its directory entry next.
                segment.Stream.Flush(flushToDisk: true);
                if (segment.IsNew)
                {
                    var bucket = Path.GetDirectoryName(segment.Path)!;
                    DirectorySync.Flush(bucket);
                    DirectorySync.Flush(Path.GetDirectoryName(bucket)!);
                    segment.IsNew = false;
                }
                foreach (var p in records)
                {
                    p.Done.TrySetResult();
                }
            }
            catch (Exception e)
            {
                // Whatever went wrong, these records fail and the loop goes on: a dead loop would
                // leave every later caller waiting forever.
                Abandon(group.Key);
                var failure = new IOException($"writing {records.Count} score record(s) of run '{records[0].Run}' failed: {e.Message}", e);
                foreach (var p in records)
                {
                    p.Done.TrySetException(failure);
                }
            }
        }
        BatchSize.Record(batch.Count);
        CommitDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    private static void Append(FileStream stream, List<Pending> records)
    {
        var size = records.Sum(r => ScoreLogFormat.HeaderSize + r.Record.Length);
        var buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            var offset = 0;
            foreach (var r in records)
            {
                ScoreLogFormat.WriteHeader(buffer.AsSpan(offset), r.CaptionIndex, r.Variant, r.Record.Span);
                r.Record.Span.CopyTo(buffer.AsSpan(offset + ScoreLogFormat.HeaderSize));
                offset += ScoreLogFormat.HeaderSize + r.Record.Length;
            }
            stream.Write(buffer, 0, size);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private Segment Open(string key, string run, long captionIndex)
    {
        if (_open.TryGetValue(key, out var open))
        {
            _recent.Remove(open.Node);
            _recent.AddLast(open.Node);
            return open;
        }
        if (_open.Count >= _maxOpenSegments)
        {
            var oldest = _recent.First!.Value;
            _recent.RemoveFirst();
            _open.Remove(oldest, out var closed);
            closed!.Stream.Dispose();
        }
        var isNew = false;
        if (!_segmentPaths.TryGetValue(key, out var path))
        {
            var name = string.Create(CultureInfo.InvariantCulture, $"{_writerName}.{_processId}.{_sequence++}{ScoreLogFormat.Extension}");
            path = _store.PathOf($"{RunRecords.ScoreBucket(run, captionIndex)}/{name}");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            _segmentPaths[key] = path;
            isNew = true;
        }
        var stream = new FileStream(path, isNew ? FileMode.CreateNew : FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 0);
        var segment = new Segment(path, stream, new LinkedListNode<string>(key)) { IsNew = isNew };
        _open[key] = segment;
        _recent.AddLast(segment.Node);
        return segment;
    }

    private void Abandon(string key)
    {
        if (_open.Remove(key, out var segment))
        {
            if (segment.Node.List is not null)
            {
                _recent.Remove(segment.Node);
            }
            try
            {
                segment.Stream.Dispose();
            }
            catch (IOException)
            {
                // Its tail may be torn; it is abandoned either way.
            }
        }
        _segmentPaths.Remove(key);
    }

    private static string SegmentKey(string run, long captionIndex) =>
        string.Create(CultureInfo.InvariantCulture, $"{run}\n{captionIndex / RunRecords.BucketSize}");

    private sealed record Pending(string Run, long CaptionIndex, int Variant, ReadOnlyMemory<byte> Record, TaskCompletionSource Done);

    private sealed class Segment(string path, FileStream stream, LinkedListNode<string> node)
    {
        public string Path { get; } = path;

        public FileStream Stream { get; } = stream;

        public LinkedListNode<string> Node { get; } = node;

        public bool IsNew { get; set; }
    }
}
