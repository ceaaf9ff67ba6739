using System.Globalization;
using System.Text;
using System.Text.Json;
using SynthVlm.Recaptioning.Sources;

namespace SynthVlm.Recaptioning.Pool;

/// <summary>
/// Appends pool and reject lines, rolling pool shards every <see cref="PoolFiles.ShardSize"/> lines. Opening it
/// resumes an earlier output: a torn last line (a writer killed mid-line) is cut off each file, and the ids already
/// written are counted, so the job can skip them. Every line is flushed to the file as it is written, in order, so a
/// kill -9 loses at most the line being written.
/// </summary>
internal sealed class PoolWriter : IDisposable
{
    private static readonly UTF8Encoding Utf8 = new(false);
    private readonly PoolFiles _files;
    private FileStream? _shard;
    private int _shardIndex;
    private int _shardLines;
    private readonly FileStream _rejects;

    private PoolWriter(PoolFiles files, int shardIndex, int shardLines, FileStream rejects)
    {
        _files = files;
        _shardIndex = shardIndex;
        _shardLines = shardLines;
        _rejects = rejects;
    }

    /// <summary>Pool lines in the output before this run (after cutting torn lines).</summary>
    public long ExistingPoolLines { get; private set; }

    /// <summary>Reject lines in the output before this run, by kind.</summary>
    public Dictionary<string, long> ExistingRejects { get; } = new(StringComparer.Ordinal);

    /// <summary>Bytes cut off torn last lines when opening.</summary>
    public long TornBytesCut { get; private set; }

    /// <summary>Pool files written so far, in order.</summary>
    public IReadOnlyList<string> Shards => _files.ExistingShards();

    /// <summary>
    /// Opens the output in <paramref name="files"/>, creating the folder. <paramref name="done"/> hears each id already
    /// settled: every pool line's and every reject line's whose kind is final (not a captioner failure, which a
    /// resumed run tries again).
    /// </summary>
    /// <exception cref="RecaptionException">An existing file holds a line that is not a record of this writer, or the layout differs.</exception>
    public static PoolWriter Open(PoolFiles files, Action<string> done)
    {
        Directory.CreateDirectory(files.Folder);
        var other = files with { ShardSize = files.ShardSize == 0 ? 1 : 0 };
        if (other.ExistingShards().Count > 0)
        {
            throw new RecaptionException($"{files.Folder} holds a pool written with {(files.ShardSize == 0 ? "shards" : "one file")} ({other.Shard(0)}); resume with the same shard setting or use another output.");
        }
        long torn = 0;
        long poolLines = 0;
        var shards = files.ExistingShards();
        var lastLines = 0;
        foreach (var shard in shards)
        {
            torn += CutTornLine(shard);
            lastLines = 0;
            foreach (var (line, id, _) in ReadLines(shard))
            {
                done(id);
                poolLines++;
                lastLines++;
                _ = line;
            }
        }
        var existingRejects = new Dictionary<string, long>(StringComparer.Ordinal);
        if (File.Exists(files.Rejects))
        {
            torn += CutTornLine(files.Rejects);
            foreach (var (_, id, kind) in ReadLines(files.Rejects))
            {
                var k = kind ?? RejectKinds.SourceError;
                existingRejects[k] = existingRejects.GetValueOrDefault(k) + 1;
                if (k != RejectKinds.CaptionerFailure)
                {
                    done(id);
                }
            }
        }
        var rejects = new FileStream(files.Rejects, FileMode.Append, FileAccess.Write, FileShare.Read);
        var writer = new PoolWriter(files, shards.Count == 0 ? 0 : shards.Count - 1, lastLines, rejects) { ExistingPoolLines = poolLines, TornBytesCut = torn };
        foreach (var (kind, count) in existingRejects)
        {
            writer.ExistingRejects[kind] = count;
        }
        return writer;
    }

    /// <summary>Appends one pool line (without its newline) and flushes it.</summary>
    public void WritePool(byte[] line)
    {
        if (_files.ShardSize > 0 && _shardLines >= _files.ShardSize)
        {
            if (_shard is not null)
            {
                _shard.Flush(flushToDisk: true);
                _shard.Dispose();
                _shard = null;
            }
            _shardIndex++;
            _shardLines = 0;
        }
        _shard ??= new FileStream(_files.Shard(_shardIndex), FileMode.Append, FileAccess.Write, FileShare.Read);
        Append(_shard, line);
        _shardLines++;
    }

    /// <summary>Appends one reject line (without its newline) and flushes it.</summary>
    public void WriteReject(byte[] line) => Append(_rejects, line);

    /// <summary>Flushes to disk and closes the files.</summary>
    public void Dispose()
    {
        foreach (var stream in (FileStream?[])[_shard, _rejects])
        {
            if (stream is not null)
            {
                stream.Flush(flushToDisk: true);
                stream.Dispose();
            }
        }
    }

    private static void Append(FileStream stream, byte[] line)
    {
        var bytes = new byte[line.Length + 1];
        line.CopyTo(bytes, 0);
        bytes[^1] = (byte)'\n';
        stream.Write(bytes);
        stream.Flush();
    }

    /// <summary>Cuts everything after the last newline (a line a killed writer left unfinished); returns the bytes cut.</summary>
    internal static long CutTornLine(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        var length = stream.Length;
        var keep = length;
        var buffer = new byte[4096];
        while (keep > 0)
        {
            var start = Math.Max(0, keep - buffer.Length);
            stream.Position = start;
            stream.ReadExactly(buffer, 0, (int)(keep - start));
            var newline = Array.LastIndexOf(buffer, (byte)'\n', (int)(keep - start) - 1);
            if (newline >= 0)
            {
                keep = start + newline + 1;
                break;
            }
            keep = start;
        }
        if (keep != length)
        {
            stream.SetLength(keep);
        }
        return length - keep;
    }

    /// <summary>The complete lines of an output file with their id and (for rejects) kind.</summary>
    private static IEnumerable<(string Line, string Id, string? Kind)> ReadLines(string path)
    {
        using var reader = new StreamReader(path, Utf8);
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (line.Length == 0)
            {
                continue;
            }
            string? id = null;
            string? kind = null;
            try
            {
                using var document = JsonDocument.Parse(line);
                if (document.RootElement.ValueKind == JsonValueKind.Object)
                {
                    if (document.RootElement.TryGetProperty("id", out var value) && value.ValueKind == JsonValueKind.String)
                    {
                        id = value.GetString();
                    }
                    if (document.RootElement.TryGetProperty("kind", out var k) && k.ValueKind == JsonValueKind.String)
                    {
                        kind = k.GetString();
                    }
                }
            }
            catch (JsonException)
            {
            }
            yield return (line, id ?? throw new RecaptionException(string.Create(CultureInfo.InvariantCulture,
                $"{path}:{number}: expected a recaption record (a JSON object with a string \"id\"); found '{(line.Length > 80 ? line[..80] + "…" : line)}'. Remove the line or write to another output.")), kind);
        }
    }
}
