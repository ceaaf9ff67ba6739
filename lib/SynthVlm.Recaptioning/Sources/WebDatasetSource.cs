using System.Formats.Tar;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace SynthVlm.Recaptioning.Sources;

/// <summary>
/// WebDataset <c>.tar</c> shards, read in the order given, each streamed member by member
/// (<see cref="TarReader"/>): consecutive members with the same key form one sample, as webdataset's
/// <c>tar_file_expander</c>/<c>group_by_keys</c> do. The key is the member path up to the first '.' of its file name
/// (webdataset's <c>base_plus_ext</c>: <c>a/b.seg.jpg</c> → key <c>a/b</c>, extension <c>seg.jpg</c>).
/// </summary>
/// <remarks>
/// <para>A sample's image is its first member whose extension is <c>jpg</c>, <c>jpeg</c>, <c>png</c> or <c>webp</c>
/// (any case); the original caption is its <c>txt</c> member, else the <c>caption</c> or <c>text</c> string of
/// its <c>json</c> member. A sample without an image is skipped silently (webdataset shards often carry other
/// samples), one whose image member is larger than <see cref="MaxImageBytes"/> is a <see cref="RejectKinds.HugeImage"/>
/// item without being read, and a shard that is missing or stops being a tar becomes one
/// <see cref="RejectKinds.SourceError"/> item (samples before the damage are kept) and reading goes on with the next.</para>
/// <para>Like webdataset, a key that comes back after another key starts a new sample: the job then reports it
/// as a duplicate id. Ids are the sanitised keys (<see cref="RecaptionIds.Sanitize"/>, extension already gone).</para>
/// </remarks>
public sealed class WebDatasetSource : IImageSource
{
    private static readonly string[] ImageExtensions = ["jpg", "jpeg", "png", "webp"];
    private readonly IReadOnlyList<string> _shards;

    /// <summary>Reads <paramref name="shards"/> in the order given.</summary>
    /// <param name="shards">Tar files.</param>
    /// <param name="maxImageBytes">The largest image member read into memory; larger ones are recorded as huge.</param>
    public WebDatasetSource(IReadOnlyList<string> shards, long maxImageBytes = RecaptionJobOptions.DefaultMaxImageBytes)
    {
        ArgumentNullException.ThrowIfNull(shards);
        if (shards.Count == 0)
        {
            throw new ArgumentException("no WebDataset shards given.", nameof(shards));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(maxImageBytes, 1);
        _shards = [.. shards.Select(Path.GetFullPath)];
        MaxImageBytes = maxImageBytes;
    }

    /// <summary>The largest image member read into memory.</summary>
    public long MaxImageBytes { get; }

    /// <inheritdoc />
    public ImageSourceKind Kind => ImageSourceKind.WebDataset;

    /// <inheritdoc />
    public string Description => _shards.Count == 1 ? _shards[0] : $"{_shards[0]} and {_shards.Count - 1} more shards";

    /// <summary>
    /// The shards a pattern names: a path, or a path whose file name holds '*' or '?' (sorted ordinally);
    /// webdataset's brace ranges (<c>{000..009}</c>) are expanded too.
    /// </summary>
    /// <exception cref="FileNotFoundException">Nothing matches.</exception>
    public static IReadOnlyList<string> Expand(string pattern)
    {
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        var result = new List<string>();
        foreach (var one in ExpandBraces(pattern))
        {
            var folder = Path.GetDirectoryName(Path.GetFullPath(one))!;
            var name = Path.GetFileName(one);
            if (name.AsSpan().IndexOfAny('*', '?') >= 0)
            {
                if (Directory.Exists(folder))
                {
                    result.AddRange(Directory.EnumerateFiles(folder, name).Order(StringComparer.Ordinal));
                }
            }
            else if (File.Exists(one))
            {
                result.Add(Path.GetFullPath(one));
            }
        }
        return result.Count > 0 ? result : throw new FileNotFoundException($"no WebDataset shard matches '{pattern}'.", pattern);
    }

    private static IEnumerable<string> ExpandBraces(string pattern)
    {
        var open = pattern.IndexOf('{', StringComparison.Ordinal);
        var close = open < 0 ? -1 : pattern.IndexOf('}', open);
        var range = close < 0 ? [] : pattern[(open + 1)..close].Split("..");
        if (range.Length != 2 || !int.TryParse(range[0], CultureInfo.InvariantCulture, out var from) || !int.TryParse(range[1], CultureInfo.InvariantCulture, out var to))
        {
            yield return pattern;
            yield break;
        }
        for (var i = from; i <= to; i++)
        {
            foreach (var rest in ExpandBraces(pattern[(close + 1)..]))
            {
                yield return pattern[..open] + i.ToString(CultureInfo.InvariantCulture).PadLeft(range[0].Length, '0') + rest;
            }
        }
    }

    /// <summary>Splits a member path into key and extension as webdataset's <c>base_plus_ext</c> does; null when it has no extension.</summary>
    internal static (string Key, string Extension)? KeyOf(string member)
    {
        var slash = member.LastIndexOf('/');
        var dot = member.IndexOf('.', slash + 1);
        return dot <= slash + 1 || dot == member.Length - 1 ? null : (member[..dot], member[(dot + 1)..]);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<RecaptionItem> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var shard in _shards)
        {
            var shardName = Path.GetFileName(shard);
            var samples = new List<RecaptionItem>();
            Sample? current = null;
            string? failure = null;
            var members = 0;
            FileStream? stream = null;
            try
            {
                stream = new FileStream(shard, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
            }
            catch (IOException e)
            {
                failure = $"{shardName}: cannot open: {e.Message}";
            }
            if (stream is not null)
            {
                await using (stream.ConfigureAwait(false))
                {
                    var reader = new TarReader(stream);
                    await using (reader.ConfigureAwait(false))
                    {
                        while (true)
                        {
                            RecaptionItem? completed = null;
                            var end = false;
                            try
                            {
                                var entry = await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false);
                                if (entry is null)
                                {
                                    end = true;
                                }
                                else
                                {
                                    members++;
                                    if (entry.EntryType is (TarEntryType.RegularFile or TarEntryType.V7RegularFile) && KeyOf(entry.Name) is { } split)
                                    {
                                        if (current is not null && current.Key != split.Key)
                                        {
                                            completed = current.ToItem(shardName);
                                            current = null;
                                        }
                                        current ??= new Sample(split.Key);
                                        await current.AddAsync(split.Extension, entry, MaxImageBytes, cancellationToken).ConfigureAwait(false);
                                    }
                                }
                            }
                            catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException or IOException)
                            {
                                failure = string.Create(CultureInfo.InvariantCulture, $"{shardName}: not a readable tar after {members} members: {e.Message}");
                                end = true;
                            }
                            if (completed is not null)
                            {
                                yield return completed;
                            }
                            if (end)
                            {
                                break;
                            }
                        }
                    }
                }
            }
            if (current?.ToItem(shardName) is { } last)
            {
                yield return last;
            }
            if (failure is not null)
            {
                yield return RecaptionItem.Unreadable(shardName + ":shard", shardName, RejectKinds.SourceError, failure);
            }
        }
    }

    private sealed class Sample(string key)
    {
        private static readonly char[] Separators = ['.'];
        private byte[]? _image;
        private string? _imageMember;
        private string? _huge;
        private string? _text;
        private string? _jsonCaption;

        public string Key => key;

        public async Task AddAsync(string extension, TarEntry entry, long maxImageBytes, CancellationToken cancellationToken)
        {
            var last = extension.Split(Separators)[^1].ToLowerInvariant();
            var lower = extension.ToLowerInvariant();
            if (ImageExtensions.Contains(last))
            {
                if (_image is not null || _huge is not null)
                {
                    return;
                }
                if (entry.Length > maxImageBytes)
                {
                    _imageMember = entry.Name;
                    _huge = string.Create(CultureInfo.InvariantCulture, $"{entry.Name}: {entry.Length} bytes, above the limit of {maxImageBytes} (MaxImageBytes)");
                    return;
                }
                _image = await ReadAsync(entry, cancellationToken).ConfigureAwait(false);
                _imageMember = entry.Name;
            }
            else if (lower == "txt" && entry.Length <= maxImageBytes)
            {
                _text = Encoding.UTF8.GetString(await ReadAsync(entry, cancellationToken).ConfigureAwait(false));
            }
            else if (lower == "json" && entry.Length <= maxImageBytes)
            {
                try
                {
                    using var document = JsonDocument.Parse(await ReadAsync(entry, cancellationToken).ConfigureAwait(false));
                    foreach (var name in (string[])["caption", "text"])
                    {
                        if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String)
                        {
                            _jsonCaption = value.GetString();
                            break;
                        }
                    }
                }
                catch (JsonException)
                {
                    // A sample's json is metadata; an unreadable one only costs the original caption.
                }
            }
        }

        public RecaptionItem? ToItem(string shardName)
        {
            if (_imageMember is null)
            {
                return null;
            }
            var source = shardName + ":" + _imageMember;
            var id = RecaptionIds.Sanitize(key, dropExtension: false);
            if (id is null)
            {
                return RecaptionItem.Unreadable(source, source, RejectKinds.SourceError, $"{source}: key '{key}' has no usable character");
            }
            var caption = _text ?? _jsonCaption;
            return _huge is not null
                ? new RecaptionItem(id, source, null, null, caption, _huge, RejectKinds.HugeImage)
                : new RecaptionItem(id, source, null, _image, caption);
        }

        private static async Task<byte[]> ReadAsync(TarEntry entry, CancellationToken cancellationToken)
        {
            var bytes = new byte[entry.Length];
            if (entry.DataStream is { } data)
            {
                await data.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
            }
            return bytes;
        }
    }
}
