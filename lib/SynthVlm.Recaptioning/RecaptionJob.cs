using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using SynthVlm.ChatEndpoints;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.IO;
using SynthVlm.Recaptioning.Pool;
using SynthVlm.Recaptioning.Prompts;
using SynthVlm.Recaptioning.Sources;

namespace SynthVlm.Recaptioning;

/// <summary>
/// Captions the images of an <see cref="IImageSource"/> with an <see cref="IChatModel"/> (an OpenAI-compatible
/// endpoint client, or the in-process LLaVA) into a caption pool that <c>CaptionPoolReader</c> reads as it is.
/// </summary>
/// <remarks>
/// <para>Each pool line is one JSON object: <c>id</c>, <c>image</c> (the file captioned; for an image read from a
/// WebDataset shard the extracted file, or null unless <see cref="RecaptionJobOptions.ExtractImagesDirectory"/> is set), <c>caption</c>, <c>original_caption</c>, <c>captioner</c>, <c>prompt</c>
/// (<c>name</c>, <c>version</c>, <c>text</c> as sent), <c>sampling</c> (<c>temperature</c>, <c>top_p</c>, <c>seed</c>,
/// <c>max_tokens</c>, <c>max_words</c>, <c>trim_to_sentence</c>), <c>trimmed</c> and <c>source</c>. Items that
/// yield no caption go to the rejects log with <c>id</c>, <c>kind</c> (<see cref="RejectKinds"/>), <c>reason</c>,
/// <c>source</c>, <c>image</c>, <c>original_caption</c> and, for an empty caption, the <c>reply</c>; the batch goes on.</para>
/// <para>Records are written in input order: up to <see cref="RecaptionJobOptions.Concurrency"/> items are captioned at
/// once and finished ones wait in a reorder buffer for those before them; an item starts only while it is within
/// <see cref="RecaptionJobOptions.EffectiveWindow"/> places of the next one to write, so memory is bounded by the
/// window, not the input.</para>
/// <para>Resume: running again into the same output cuts a torn last line off each file, skips every item whose id is
/// already in the pool or in the rejects log (except captioner failures, which are tried again), and appends the rest
/// in input order, so an interrupted run (cancelled, or killed with kill -9) ends with the same pool as an
/// uninterrupted one, without duplicates. An id given to two items of the input keeps the first and records the
/// second as a <see cref="RejectKinds.DuplicateId"/>, on resume too (occurrences are counted).</para>
/// </remarks>
public sealed class RecaptionJob
{
    private static readonly JsonWriterOptions LineOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly IChatModel _captioner;
    private readonly RecaptionJobOptions _options;

    /// <summary>Creates a job that asks <paramref name="captioner"/>; throws <see cref="ArgumentException"/> naming an unusable option.</summary>
    public RecaptionJob(IChatModel captioner, RecaptionJobOptions options)
    {
        ArgumentNullException.ThrowIfNull(captioner);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _captioner = captioner;
        _options = options;
    }

    /// <summary>The options the job runs with.</summary>
    public RecaptionJobOptions Options => _options;

    /// <summary>Captions <paramref name="source"/> into the output folder, resuming what is there; writes and returns the summary.</summary>
    /// <param name="source">The images.</param>
    /// <param name="progress">Hears each record written.</param>
    /// <param name="cancellationToken">Stops the job; everything written stays for a resume (no summary is written).</param>
    /// <exception cref="RecaptionException">The output cannot be resumed, or <see cref="RecaptionJobOptions.MaxTrackedIds"/> was reached.</exception>
    /// <exception cref="OperationCanceledException">The job was cancelled.</exception>
    public async Task<RecaptionSummary> RunAsync(IImageSource source, IProgress<RecaptionProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        var started = Stopwatch.GetTimestamp();
        var files = _options.Files;
        var ids = new Dictionary<ulong, Occurrences>();
        using var writer = PoolWriter.Open(files, id => Track(ids, id).Done++);
        ResetSpool(files.Spool);
        var rejected = RejectKinds.All.ToDictionary(k => k, _ => 0L, StringComparer.Ordinal);
        long captioned = 0;
        long resumed = 0;
        long written = 0;
        long nextToWrite = 0;
        var buffered = new Dictionary<long, Outcome>();
        var writeLock = new Lock();
        using var window = new SemaphoreSlim(_options.EffectiveWindow);
        try
        {
            await Parallel.ForEachAsync(
                Produce(),
                new ParallelOptions { MaxDegreeOfParallelism = _options.Concurrency, CancellationToken = cancellationToken },
                async (work, token) =>
                {
                    var outcome = await ProcessAsync(work, files, token).ConfigureAwait(false);
                    lock (writeLock)
                    {
                        buffered[work.Index] = outcome;
                        while (buffered.Remove(nextToWrite, out var next))
                        {
                            nextToWrite++;
                            if (next.Kind is null)
                            {
                                writer.WritePool(next.Line);
                                captioned++;
                            }
                            else
                            {
                                writer.WriteReject(next.Line);
                                rejected[next.Kind]++;
                            }
                            written++;
                            window.Release();
                        }
                        progress?.Report(new RecaptionProgress(written, captioned, written - captioned, Interlocked.Read(ref resumed)));
                    }
                }).ConfigureAwait(false);
        }
        finally
        {
            ResetSpool(files.Spool, recreate: false);
        }
        var summary = new RecaptionSummary(
            source.Description,
            KindName(source.Kind),
            _captioner.ModelName,
            $"{_options.Prompt.Name}@{_options.Prompt.Version}",
            captioned,
            rejected,
            resumed,
            writer.ExistingPoolLines + captioned,
            writer.Shards,
            files.Rejects,
            writer.TornBytesCut,
            Stopwatch.GetElapsedTime(started).TotalSeconds);
        AtomicFile.WriteAllText(files.Summary, summary.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return summary;

        async IAsyncEnumerable<Work> Produce([EnumeratorCancellation] CancellationToken token = default)
        {
            long index = 0;
            await foreach (var item in source.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                ref var seen = ref Track(ids, item.Id);
                seen.Seen++;
                if (seen.Seen <= seen.Done)
                {
                    Interlocked.Increment(ref resumed);
                    continue;
                }
                var duplicate = seen.Seen > 1;
                await window.WaitAsync(cancellationToken).ConfigureAwait(false);
                yield return new Work(index++, item, duplicate);
            }
            _ = token;
        }

        ref Occurrences Track(Dictionary<ulong, Occurrences> map, string id)
        {
            ref var entry = ref CollectionsMarshal.GetValueRefOrAddDefault(map, RecaptionIds.Fingerprint(id), out var existed);
            if (!existed && map.Count > _options.MaxTrackedIds)
            {
                throw new RecaptionException($"more than {_options.MaxTrackedIds} distinct ids (RecaptionJobOptions.MaxTrackedIds); what was written stays, resume with a larger limit.");
            }
            return ref entry;
        }
    }

    /// <summary>The name a summary gives a source kind.</summary>
    public static string KindName(ImageSourceKind kind) => kind switch
    {
        ImageSourceKind.Folder => "folder",
        ImageSourceKind.ImageFolder => "imagefolder",
        ImageSourceKind.WebDataset => "webdataset",
        ImageSourceKind.CaptionPool => "caption-pool",
        _ => "auto",
    };

    private async Task<Outcome> ProcessAsync(Work work, PoolFiles files, CancellationToken cancellationToken)
    {
        var item = work.Item;
        if (item.Problem is not null)
        {
            return Reject(item, item.ProblemKind ?? RejectKinds.SourceError, item.Problem);
        }
        if (work.Duplicate)
        {
            return Reject(item, RejectKinds.DuplicateId, $"{item.Source}: id '{item.Id}' was already given to an earlier item of this input");
        }
        string? spooled = null;
        try
        {
            byte[]? bytes = item.ImageBytes;
            if (bytes is null && item.ImagePath is not null)
            {
                FileInfo info;
                try
                {
                    info = new FileInfo(item.ImagePath);
                    if (!info.Exists)
                    {
                        return Reject(item, RejectKinds.CorruptImage, $"{item.Source}: image file {item.ImagePath} does not exist");
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return Reject(item, RejectKinds.CorruptImage, $"{item.Source}: cannot read {item.ImagePath}: {e.Message}");
                }
                if (info.Length > _options.MaxImageBytes)
                {
                    return Reject(item, RejectKinds.HugeImage, $"{item.Source}: {info.Length} bytes, above the limit of {_options.MaxImageBytes} (MaxImageBytes)");
                }
                if (_options.ValidateImages)
                {
                    try
                    {
                        bytes = await File.ReadAllBytesAsync(item.ImagePath, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        return Reject(item, RejectKinds.CorruptImage, $"{item.Source}: cannot read {item.ImagePath}: {e.Message}");
                    }
                }
            }
            if (bytes is not null)
            {
                if (bytes.LongLength > _options.MaxImageBytes)
                {
                    return Reject(item, RejectKinds.HugeImage, $"{item.Source}: {bytes.LongLength} bytes, above the limit of {_options.MaxImageBytes} (MaxImageBytes)");
                }
                if (_options.ValidateImages && Check(item, bytes) is { } problem)
                {
                    return problem;
                }
            }
            var path = item.ImagePath;
            if (path is null && _options.ExtractImagesDirectory is { } extractTo)
            {
                path = Path.Combine(Path.GetFullPath(extractTo), item.Id + ExtensionOf(item.ImageBytes!));
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await File.WriteAllBytesAsync(path, item.ImageBytes!, cancellationToken).ConfigureAwait(false);
                item = item with { ImagePath = path };
            }
            else if (path is null)
            {
                spooled = Path.Combine(files.Spool, $"{work.Index}.img");
                await File.WriteAllBytesAsync(spooled, item.ImageBytes!, cancellationToken).ConfigureAwait(false);
                path = spooled;
            }
            var request = new ChatRequest([ChatMessage.User(_options.Prompt.Render(_options.Length.MaxWords), path)], _options.Temperature, _options.Length.MaxTokens, _options.Seed, _options.TopP);
            ChatReply reply;
            try
            {
                reply = await _captioner.CompleteAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (ChatModelException e)
            {
                return Reject(item, RejectKinds.CaptionerFailure, $"{item.Source}: {e.Message}");
            }
            var caption = CaptionText.Clean(reply.Text ?? string.Empty, _options.Length, out var trimmed);
            if (caption.Length == 0)
            {
                return Reject(item, RejectKinds.EmptyCaption, $"{item.Source}: the captioner answered with an empty caption", reply.Text ?? string.Empty);
            }
            return new Outcome(null, PoolLine(item, caption, trimmed));
        }
        finally
        {
            if (spooled is not null)
            {
                File.Delete(spooled);
            }
        }
    }

    private static string ExtensionOf(byte[] bytes) => ImageCodec.DetectFormat(bytes) switch
    {
        ImageFormat.Png => ".png",
        ImageFormat.Jpeg => ".jpg",
        ImageFormat.WebP => ".webp",
        _ => ".img",
    };

    private Outcome? Check(RecaptionItem item, byte[] bytes)
    {
        try
        {
            using var image = ImageCodec.Decode(bytes, new DecodeOptions { MaxPixels = _options.MaxPixels }, item.Source);
            return null;
        }
        catch (ImageSizeException e)
        {
            return Reject(item, RejectKinds.HugeImage, e.Message);
        }
        catch (ImagingException e)
        {
            return Reject(item, RejectKinds.CorruptImage, e.Message);
        }
    }

    private byte[] PoolLine(RecaptionItem item, string caption, bool trimmed) => Line(writer =>
    {
        writer.WriteString("id", item.Id);
        WriteOptional(writer, "image", item.ImagePath);
        writer.WriteString("caption", Scrub(caption));
        WriteOptional(writer, "original_caption", item.OriginalCaption);
        writer.WriteString("captioner", _captioner.ModelName);
        writer.WriteStartObject("prompt");
        writer.WriteString("name", _options.Prompt.Name);
        writer.WriteNumber("version", _options.Prompt.Version);
        writer.WriteString("text", _options.Prompt.Render(_options.Length.MaxWords));
        writer.WriteEndObject();
        writer.WriteStartObject("sampling");
        writer.WriteNumber("temperature", _options.Temperature);
        writer.WriteNumber("top_p", _options.TopP);
        if (_options.Seed is { } seed)
        {
            writer.WriteNumber("seed", seed);
        }
        else
        {
            writer.WriteNull("seed");
        }
        writer.WriteNumber("max_tokens", _options.Length.MaxTokens);
        if (_options.Length.MaxWords is { } words)
        {
            writer.WriteNumber("max_words", words);
        }
        else
        {
            writer.WriteNull("max_words");
        }
        writer.WriteBoolean("trim_to_sentence", _options.Length.TrimToSentence);
        writer.WriteEndObject();
        writer.WriteBoolean("trimmed", trimmed);
        writer.WriteString("source", Scrub(item.Source));
    });

    private static Outcome Reject(RecaptionItem item, string kind, string reason, string? reply = null) => new(kind, Line(writer =>
    {
        writer.WriteString("id", Scrub(item.Id));
        writer.WriteString("kind", kind);
        writer.WriteString("reason", Scrub(reason));
        writer.WriteString("source", Scrub(item.Source));
        WriteOptional(writer, "image", item.ImagePath);
        WriteOptional(writer, "original_caption", item.OriginalCaption);
        if (reply is not null)
        {
            writer.WriteString("reply", Scrub(reply));
        }
    }));

    private static void WriteOptional(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, Scrub(value));
        }
    }

    private static byte[] Line(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, LineOptions))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>Lone UTF-16 surrogates cannot be written as UTF-8: they become U+FFFD.</summary>
    private static string Scrub(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsSurrogate(text[i]) && !(char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])))
            {
                var builder = new StringBuilder(text.Length);
                for (var j = 0; j < text.Length; j++)
                {
                    var c = text[j];
                    if (char.IsHighSurrogate(c) && j + 1 < text.Length && char.IsLowSurrogate(text[j + 1]))
                    {
                        builder.Append(c).Append(text[++j]);
                    }
                    else
                    {
                        builder.Append(char.IsSurrogate(c) ? '\uFFFD' : c);
                    }
                }
                return builder.ToString();
            }
            if (char.IsHighSurrogate(text[i]))
            {
                i++;
            }
        }
        return text;
    }

    private static void ResetSpool(string spool, bool recreate = true)
    {
        if (Directory.Exists(spool))
        {
            Directory.Delete(spool, recursive: true);
        }
        if (recreate)
        {
            Directory.CreateDirectory(spool);
        }
    }

    private struct Occurrences
    {
        public int Done;
        public int Seen;
    }

    private sealed record Work(long Index, RecaptionItem Item, bool Duplicate);

    private sealed record Outcome(string? Kind, byte[] Line);
}
