using System.Buffers;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace SynthVlm.Judge;

/// <summary>A verdict worth remembering: only Yes and No are cached, never a failure.</summary>
internal readonly record struct CachedVerdict(JudgeOutcome Outcome, string? Answer);

/// <summary>
/// Verdicts by <see cref="VerdictKey"/>: an LRU of at most <c>capacity</c> entries in memory, in
/// front of an optional append-only JSONL file. The file is indexed at start (key → line offset,
/// about 60 bytes per verdict) rather than loaded, so a file with millions of verdicts still
/// answers every one of them while memory stays bounded by the LRU plus the index.
/// </summary>
/// <remarks>
/// Each line is written with one positional write ending in <c>\n</c>, so a crash leaves at most
/// one unterminated line at the end; loading drops (and truncates) that torn tail. Any other
/// unreadable line means the file is not ours or was edited, and loading stops with
/// <see cref="InvalidDataException"/> naming the file and line.
/// </remarks>
internal sealed class VerdictCache : IDisposable
{
    private const int InitialReadBuffer = 1 << 16;

    private readonly int _capacity;
    private readonly Lock _lock = new();
    private readonly Dictionary<VerdictKey, LinkedListNode<(VerdictKey Key, CachedVerdict Verdict)>> _lru = [];
    private readonly LinkedList<(VerdictKey Key, CachedVerdict Verdict)> _order = new();
    private readonly Dictionary<VerdictKey, (long Offset, int Length)> _fileIndex = [];
    private readonly SafeFileHandle? _file;
    private readonly string? _path;
    private long _fileLength;

    public VerdictCache(int capacity, string? path)
    {
        _capacity = capacity;
        if (path is null)
        {
            return;
        }
        _path = Path.GetFullPath(path);
        _file = File.OpenHandle(_path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            Load();
        }
        catch
        {
            _file.Dispose();
            throw;
        }
    }

    /// <summary>Verdicts the file holds (distinct keys).</summary>
    public int FileCount
    {
        get
        {
            lock (_lock)
            {
                return _fileIndex.Count;
            }
        }
    }

    /// <summary>Lines dropped from the end of the file at load because they were torn.</summary>
    public long TornBytesDropped { get; private set; }

    public bool TryGet(VerdictKey key, out CachedVerdict verdict)
    {
        (long Offset, int Length) location;
        lock (_lock)
        {
            if (_lru.TryGetValue(key, out var node))
            {
                _order.Remove(node);
                _order.AddFirst(node);
                verdict = node.Value.Verdict;
                return true;
            }
            if (_file is null || !_fileIndex.TryGetValue(key, out location))
            {
                verdict = default;
                return false;
            }
        }
        // Positional reads need no lock: lines are immutable once written.
        var buffer = ArrayPool<byte>.Shared.Rent(location.Length);
        try
        {
            var line = buffer.AsSpan(0, location.Length);
            RandomAccess.Read(_file, line, location.Offset);
            if (!TryParseLine(line, out var storedKey, out verdict) || storedKey != key)
            {
                throw new InvalidDataException($"Verdict cache '{_path}' changed under this process: the line at byte {location.Offset} no longer holds verdict {key}.");
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        lock (_lock)
        {
            Remember(key, verdict);
        }
        return true;
    }

    public void Add(VerdictKey key, CachedVerdict verdict, string model)
    {
        byte[]? line = _file is null ? null : FormatLine(key, verdict, model);
        lock (_lock)
        {
            Remember(key, verdict);
            if (line is not null)
            {
                RandomAccess.Write(_file!, line, _fileLength);
                _fileIndex[key] = (_fileLength, line.Length - 1);
                _fileLength += line.Length;
            }
        }
    }

    public void Dispose() => _file?.Dispose();

    private void Remember(VerdictKey key, CachedVerdict verdict)
    {
        if (_capacity == 0)
        {
            return;
        }
        if (_lru.TryGetValue(key, out var existing))
        {
            _order.Remove(existing);
        }
        else if (_lru.Count >= _capacity)
        {
            var last = _order.Last!;
            _order.RemoveLast();
            _lru.Remove(last.Value.Key);
        }
        var node = _order.AddFirst((key, verdict));
        _lru[key] = node;
    }

    private void Load()
    {
        var length = RandomAccess.GetLength(_file!);
        var buffer = ArrayPool<byte>.Shared.Rent(InitialReadBuffer);
        try
        {
            long bufferOffset = 0; // file offset of buffer[0]
            int start = 0, end = 0, lineNumber = 0;
            long goodEnd = 0;
            while (bufferOffset + end < length)
            {
                if (end == buffer.Length)
                {
                    if (start > 0)
                    {
                        Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                        bufferOffset += start;
                        end -= start;
                        start = 0;
                    }
                    else
                    {
                        var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        Buffer.BlockCopy(buffer, 0, bigger, 0, end);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = bigger;
                    }
                }
                var read = RandomAccess.Read(_file!, buffer.AsSpan(end), bufferOffset + end);
                if (read == 0)
                {
                    break;
                }
                end += read;
                while (true)
                {
                    var newline = buffer.AsSpan(start, end - start).IndexOf((byte)'\n');
                    if (newline < 0)
                    {
                        break;
                    }
                    lineNumber++;
                    var line = buffer.AsSpan(start, newline);
                    if (!line.Trim((byte)' ').IsEmpty)
                    {
                        if (!TryParseLine(line, out var key, out _))
                        {
                            throw new InvalidDataException($"Verdict cache '{_path}' line {lineNumber} is not a verdict record: {Excerpt(line)}");
                        }
                        _fileIndex[key] = (bufferOffset + start, newline);
                    }
                    start += newline + 1;
                    goodEnd = bufferOffset + start;
                }
            }
            if (goodEnd < length)
            {
                // An unterminated tail is a write the process did not finish; appending after it
                // would glue the next verdict onto garbage.
                TornBytesDropped = length - goodEnd;
                RandomAccess.SetLength(_file!, goodEnd);
            }
            _fileLength = goodEnd;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static byte[] FormatLine(VerdictKey key, CachedVerdict verdict, string model)
    {
        var output = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            writer.WriteString("key"u8, key.ToHex());
            writer.WriteString("outcome"u8, verdict.Outcome == JudgeOutcome.Yes ? "yes"u8 : "no"u8);
            if (verdict.Answer is null)
            {
                writer.WriteNull("answer"u8);
            }
            else
            {
                writer.WriteString("answer"u8, verdict.Answer);
            }
            // Model and prompt version are already inside the key; they are written so that a
            // person reading the file can tell runs apart.
            writer.WriteString("model"u8, model);
            writer.WriteString("prompt"u8, JudgePrompt.Version);
            writer.WriteEndObject();
        }
        var line = new byte[output.WrittenCount + 1];
        output.WrittenSpan.CopyTo(line);
        line[^1] = (byte)'\n';
        return line;
    }

    private static bool TryParseLine(ReadOnlySpan<byte> line, out VerdictKey key, out CachedVerdict verdict)
    {
        key = default;
        verdict = default;
        try
        {
            var reader = new Utf8JsonReader(line);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }
            string? keyHex = null, outcome = null, answer = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("key"u8))
                {
                    reader.Read();
                    keyHex = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.ValueTextEquals("outcome"u8))
                {
                    reader.Read();
                    outcome = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.ValueTextEquals("answer"u8))
                {
                    reader.Read();
                    answer = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                return false;
            }
            if (keyHex is null || !VerdictKey.TryParseHex(keyHex, out key))
            {
                return false;
            }
            JudgeOutcome? parsed = outcome switch
            {
                "yes" => JudgeOutcome.Yes,
                "no" => JudgeOutcome.No,
                _ => null,
            };
            if (parsed is null)
            {
                return false;
            }
            verdict = new CachedVerdict(parsed.Value, answer);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string Excerpt(ReadOnlySpan<byte> line) =>
        JudgePrompt.Excerpt(Encoding.UTF8.GetString(line[..Math.Min(line.Length, 200)]), 80);
}
