using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace SynthVlm.ChatEndpoints;

/// <summary>
/// Replies by request key, in memory and optionally in an append-only JSONL file
/// (<c>{"key","model","text"}</c> per line) that is loaded at start, so a re-run asks nothing it
/// asked before. A last line without its newline is a write the process did not finish: it is
/// dropped (and cut from the file, so the next append starts on a clean line). Thread-safe.
/// </summary>
public sealed class ChatReplyCache : IDisposable
{
    private readonly Dictionary<string, string> _replies = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly FileStream? _file;

    /// <summary>Creates an in-memory cache, backed by <paramref name="path"/> when it is not null.</summary>
    /// <exception cref="InvalidDataException">A complete line of the file is not a cache record; the message names the file and line.</exception>
    public ChatReplyCache(string? path = null)
    {
        if (path is null)
        {
            return;
        }
        Path = System.IO.Path.GetFullPath(path);
        _file = new FileStream(Path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
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

    /// <summary>The backing file, or null.</summary>
    public string? Path { get; }

    /// <summary>Bytes of an unfinished last line dropped when the file was loaded (0 when it ended cleanly).</summary>
    public long TornBytesDropped { get; private set; }

    /// <summary>How many replies are held.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _replies.Count;
            }
        }
    }

    /// <summary>
    /// The key of a request: SHA-256 over the model, every message's role, text and images' SHA-256
    /// (the bytes, not the path, so a moved file still hits and a changed one misses), the
    /// temperature, max_tokens and seed, and top_p when it is below 1 (so keys written before top_p existed, and
    /// every request without it, stay as they were); each field length-prefixed so no two requests share an encoding.
    /// </summary>
    /// <param name="model">The model name.</param>
    /// <param name="request">The request.</param>
    /// <param name="imageHashes">Per message, the SHA-256 of each image's bytes, in order.</param>
    public static string Key(string model, ChatRequest request, IReadOnlyList<IReadOnlyList<byte[]>> imageHashes) => Key(model, request, imageHashes, null);

    /// <summary>
    /// The key of a request asked in another way than a plain completion (e.g. for logprobs): as
    /// <see cref="Key(string, ChatRequest, IReadOnlyList{IReadOnlyList{byte[]}})"/> with <paramref name="kind"/>
    /// hashed in too; null gives the plain key.
    /// </summary>
    /// <param name="model">The model name.</param>
    /// <param name="request">The request.</param>
    /// <param name="imageHashes">Per message, the SHA-256 of each image's bytes, in order.</param>
    /// <param name="kind">What else the request asks for (e.g. "top_logprobs=20"), or null.</param>
    public static string Key(string model, ChatRequest request, IReadOnlyList<IReadOnlyList<byte[]>> imageHashes, string? kind)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(imageHashes);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        AppendText(hash, "synthvlm-chat-cache/1");
        AppendText(hash, model);
        AppendInt(hash, request.Messages.Count);
        for (var i = 0; i < request.Messages.Count; i++)
        {
            var message = request.Messages[i];
            AppendText(hash, message.Role);
            AppendText(hash, message.Text);
            var images = i < imageHashes.Count ? imageHashes[i] : [];
            AppendInt(hash, images.Count);
            foreach (var image in images)
            {
                AppendInt(hash, image.Length);
                hash.AppendData(image);
            }
        }
        AppendText(hash, request.Temperature.ToString("R", CultureInfo.InvariantCulture));
        AppendInt(hash, request.MaxTokens);
        AppendText(hash, request.Seed is { } seed ? seed.ToString(CultureInfo.InvariantCulture) : "none");
        if (request.HasTopP)
        {
            AppendText(hash, "top_p");
            AppendText(hash, request.TopP.ToString("R", CultureInfo.InvariantCulture));
        }
        if (kind is not null)
        {
            AppendText(hash, "kind");
            AppendText(hash, kind);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>The cached reply for <paramref name="key"/>, if any.</summary>
    public bool TryGet(string key, out string text)
    {
        lock (_lock)
        {
            return _replies.TryGetValue(key, out text!);
        }
    }

    /// <summary>Remembers a reply and appends it to the file (flushed before returning).</summary>
    public void Add(string key, string model, string text)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(text);
        lock (_lock)
        {
            if (!_replies.TryAdd(key, text))
            {
                return;
            }
            if (_file is not null)
            {
                var line = FormatLine(key, model, text);
                _file.Seek(0, SeekOrigin.End);
                _file.Write(line);
                _file.Flush(flushToDisk: false);
            }
        }
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => _file?.Dispose();

    private void Load()
    {
        var bytes = new byte[_file!.Length];
        _file.ReadExactly(bytes);
        // A UTF-8 byte-order mark (a file touched by an editor) is not part of the first record.
        var start = bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        var number = 0;
        while (start < bytes.Length)
        {
            var newline = Array.IndexOf(bytes, (byte)'\n', start);
            if (newline < 0)
            {
                TornBytesDropped = bytes.Length - start;
                _file.SetLength(start);
                break;
            }
            number++;
            var line = bytes.AsSpan(start, newline - start);
            if (!line.Trim(" \r\t"u8).IsEmpty)
            {
                if (!TryParse(line, out var key, out var text))
                {
                    throw new InvalidDataException($"chat reply cache {Path}: line {number} is not a cache record (expected {{\"key\",\"model\",\"text\"}}): {Encoding.UTF8.GetString(line[..Math.Min(line.Length, 80)])}");
                }
                _replies[key] = text;
            }
            start = newline + 1;
        }
        _file.Seek(0, SeekOrigin.End);
    }

    private static bool TryParse(ReadOnlySpan<byte> line, out string key, out string text)
    {
        key = string.Empty;
        text = string.Empty;
        try
        {
            var reader = new Utf8JsonReader(line);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("key", out var k) || k.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
            {
                return false;
            }
            key = k.GetString()!;
            text = t.GetString()!;
            return key.Length == 64;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static byte[] FormatLine(string key, string model, string text)
    {
        var output = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            writer.WriteString("key"u8, key);
            writer.WriteString("model"u8, model);
            writer.WriteString("text"u8, text);
            writer.WriteEndObject();
        }
        var line = new byte[output.WrittenCount + 1];
        output.WrittenSpan.CopyTo(line);
        line[^1] = (byte)'\n';
        return line;
    }

    private static void AppendText(IncrementalHash hash, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        AppendInt(hash, bytes.Length);
        hash.AppendData(bytes);
    }

    private static void AppendInt(IncrementalHash hash, int value)
    {
        Span<byte> buffer = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(buffer, value);
        hash.AppendData(buffer);
    }
}
