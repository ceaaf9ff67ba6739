using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SynthVlm.ChatEndpoints;

/// <summary>
/// An <see cref="IChatModel"/> behind any OpenAI-compatible chat-completions endpoint
/// (<c>POST {Endpoint}/chat/completions</c>: vLLM, SGLang, OpenAI).
/// </summary>
/// <remarks>
/// <para>
/// Messages without images are sent with a string <c>content</c>; a message with images is sent
/// as content parts: one <c>{"type":"image_url","image_url":{"url":"data:MIME;base64,…"}}</c> per
/// image, in order, then the <c>{"type":"text"}</c> part (LLaVA's order: image, then question).
/// The MIME type comes from the file's magic bytes (PNG, JPEG, GIF, WebP, BMP). A missing or
/// unknown image fails the call before anything is sent.
/// </para>
/// <para>
/// Retries (up to <see cref="OpenAiChatOptions.MaxRetries"/>) follow 408, 429, 5xx, per-attempt
/// timeouts and connection errors, waiting for the server's <c>Retry-After</c> (seconds or a date,
/// capped by <see cref="OpenAiChatOptions.MaxRetryAfter"/>) or else an exponential backoff with
/// equal jitter. Other 4xx answers (a bad key, an unknown model, a prompt too long) fail at once
/// with the server's <c>error.message</c>, since repeating them cannot help. The concurrency limit
/// counts requests on the wire: a call waiting out its backoff frees its slot.
/// </para>
/// <para>
/// Only calls at temperature 0 or with a seed are cached (memory, and the optional JSONL file):
/// they are meant to be repeatable, so a re-run may take the stored reply. A sampled call without
/// a seed asks for a fresh draw each time (several captions per image, MM-Vet's repeated runs);
/// caching it would silently turn N samples into N copies of one.
/// </para>
/// </remarks>
public sealed partial class OpenAiChatClient : IChatModel, IDisposable
{
    private const int ErrorExcerptLength = 300;

    private readonly OpenAiChatOptions _options;
    private readonly string _model;
    private readonly string? _apiKey;
    private readonly Uri _uri;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly SemaphoreSlim _slots;
    private readonly ChatReplyCache? _cache;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private int _requestsSent;

    /// <summary>Creates a client; throws <see cref="ArgumentException"/> naming the first unusable option.</summary>
    /// <param name="options">Endpoint, model, limits and cache settings.</param>
    /// <param name="httpClient">An HTTP client to use (not disposed here); null makes a private one.</param>
    /// <param name="logger">Receives retries and failures; null for none.</param>
    /// <param name="timeProvider">The clock for timeouts and backoff; null for the system clock.</param>
    /// <exception cref="InvalidDataException">The cache file holds a complete line that is not a cache record.</exception>
    public OpenAiChatClient(OpenAiChatOptions options, HttpClient? httpClient = null, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _model = options.Model!;
        _apiKey = options.ResolveApiKey();
        _uri = options.ChatCompletionsUri();
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _slots = new SemaphoreSlim(options.MaxConcurrency, options.MaxConcurrency);
        _cache = options.Cache ? new ChatReplyCache(options.CacheFile) : null;
        if (httpClient is null)
        {
            // Per-attempt deadlines are ours (linked tokens), so the client's own timeout is off.
            _http = new HttpClient(new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                ConnectTimeout = options.Timeout,
                MaxConnectionsPerServer = options.MaxConcurrency,
            })
            {
                Timeout = Timeout.InfiniteTimeSpan,
            };
            _ownsHttp = true;
        }
        else
        {
            _http = httpClient;
        }
        if (_cache is { TornBytesDropped: > 0 })
        {
            Log.TornTailDropped(_logger, _cache.Path!, _cache.TornBytesDropped);
        }
    }

    /// <inheritdoc />
    public string ModelName => _model;

    /// <summary>The URL every request goes to.</summary>
    public Uri ChatCompletionsUri => _uri;

    /// <summary>HTTP requests sent so far (attempts, retries included; cache hits send none).</summary>
    public int RequestsSent => Volatile.Read(ref _requestsSent);

    /// <summary>Whether a request may be answered from the cache: temperature 0 or a seed (see remarks).</summary>
    public static bool IsCacheable(ChatRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Temperature == 0 || request.Seed is not null;
    }

    /// <inheritdoc />
    public async Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Messages is null || request.Messages.Count == 0)
        {
            throw new ArgumentException("a chat request needs at least one message.", nameof(request));
        }
        cancellationToken.ThrowIfCancellationRequested();
        var images = await ReadImagesAsync(request, cancellationToken).ConfigureAwait(false);
        var cacheable = _cache is not null && IsCacheable(request);
        string? key = null;
        if (cacheable)
        {
            key = ChatReplyCache.Key(_model, request, [.. images.Select(m => (IReadOnlyList<byte[]>)[.. m.Select(i => i.Sha256)])]);
            if (_cache!.TryGet(key, out var cached))
            {
                return new ChatReply(cached, FromCache: true);
            }
        }
        var body = RequestBody(request, images);
        var text = await CallWithRetriesAsync(body, cancellationToken).ConfigureAwait(false);
        if (key is not null)
        {
            _cache!.Add(key, _model, text);
        }
        return new ChatReply(text);
    }

    /// <summary>Releases the private HTTP client (if any) and the cache file.</summary>
    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
        _slots.Dispose();
        _cache?.Dispose();
    }

    /// <summary>The MIME type of an image from its first bytes, or null when it is none of PNG, JPEG, GIF, WebP, BMP.</summary>
    public static string? SniffImageType(ReadOnlySpan<byte> bytes) => bytes switch
    {
        [0x89, 0x50, 0x4E, 0x47, ..] => "image/png",
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [0x47, 0x49, 0x46, 0x38, ..] => "image/gif",
        [0x52, 0x49, 0x46, 0x46, _, _, _, _, 0x57, 0x45, 0x42, 0x50, ..] => "image/webp",
        [0x42, 0x4D, ..] => "image/bmp",
        _ => null,
    };

    private async Task<List<List<Image>>> ReadImagesAsync(ChatRequest request, CancellationToken cancellationToken)
    {
        var all = new List<List<Image>>(request.Messages.Count);
        foreach (var message in request.Messages)
        {
            var list = new List<Image>();
            foreach (var path in message.ImagePaths ?? [])
            {
                byte[] bytes;
                try
                {
                    bytes = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ChatModelException($"{_model}: cannot read image {path}: {e.Message}", e);
                }
                var mime = SniffImageType(bytes)
                    ?? throw new ChatModelException($"{_model}: image {path} is not PNG, JPEG, GIF, WebP or BMP (first bytes {Convert.ToHexString(bytes.AsSpan(0, Math.Min(8, bytes.Length)))}).");
                list.Add(new Image(mime, bytes, SHA256.HashData(bytes)));
            }
            all.Add(list);
        }
        return all;
    }

    private async Task<string> CallWithRetriesAsync(byte[] body, CancellationToken cancellationToken)
    {
        var maxAttempts = _options.MaxRetries + 1;
        for (var attempt = 1; ; attempt++)
        {
            Attempt result;
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                Interlocked.Increment(ref _requestsSent);
                result = await AttemptAsync(body, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _slots.Release();
            }
            if (result.Text is not null)
            {
                return result.Text;
            }
            if (!result.Retryable)
            {
                Log.Failed(_logger, _model, attempt, result.Error!);
                throw new ChatModelException($"{_model} at {_uri}: {result.Error}");
            }
            if (attempt >= maxAttempts)
            {
                Log.Failed(_logger, _model, attempt, result.Error!);
                throw new ChatModelException(string.Create(CultureInfo.InvariantCulture, $"{_model} at {_uri}: {result.Error} (gave up after {attempt} attempts)"));
            }
            var delay = result.RetryAfter ?? Backoff(attempt);
            Log.Retrying(_logger, _model, attempt, result.Error!, delay.TotalMilliseconds);
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<Attempt> AttemptAsync(byte[] body, CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource(_options.Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        using var request = new HttpRequestMessage(HttpMethod.Post, _uri) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (_apiKey is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _apiKey);
        }
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            var bytes = await response.Content.ReadAsByteArrayAsync(linked.Token).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                return ReadCompletion(bytes);
            }
            var message = ErrorMessage(bytes);
            var error = string.Create(CultureInfo.InvariantCulture, $"http {status} {response.ReasonPhrase}: {message}");
            var retryable = status is 408 or 429 || status >= 500;
            return new Attempt(null, error, retryable, retryable ? RetryAfter(response) : null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new Attempt(null, string.Create(CultureInfo.InvariantCulture, $"timeout after {_options.Timeout.TotalSeconds:0.###} s"), true, null);
        }
        catch (HttpRequestException e)
        {
            return new Attempt(null, "connection error: " + e.Message, true, null);
        }
        catch (IOException e)
        {
            return new Attempt(null, "connection error: " + e.Message, true, null);
        }
    }

    private static Attempt ReadCompletion(byte[] bytes)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("choices", out var choices)
                && choices.ValueKind == JsonValueKind.Array
                && choices.GetArrayLength() > 0
                && choices[0].ValueKind == JsonValueKind.Object
                && choices[0].TryGetProperty("message", out var message)
                && message.ValueKind == JsonValueKind.Object
                && message.TryGetProperty("content", out var content))
            {
                // A null content (a refusal, a tool call) is an empty answer: what a grader parses as garbage.
                if (content.ValueKind == JsonValueKind.String)
                {
                    return new Attempt(content.GetString()!, null, false, null);
                }
                if (content.ValueKind == JsonValueKind.Null)
                {
                    return new Attempt(string.Empty, null, false, null);
                }
            }
        }
        catch (JsonException)
        {
        }
        // A 200 with a body that is not a completion is a broken proxy or server: worth another try.
        return new Attempt(null, "malformed response (no choices[0].message.content): " + Excerpt(Encoding.UTF8.GetString(bytes)), true, null);
    }

    private static string ErrorMessage(byte[] bytes)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error", out var error))
            {
                if (error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String)
                {
                    return Excerpt(message.GetString()!);
                }
                if (error.ValueKind == JsonValueKind.String)
                {
                    return Excerpt(error.GetString()!);
                }
            }
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("message", out var top) && top.ValueKind == JsonValueKind.String)
            {
                return Excerpt(top.GetString()!);
            }
        }
        catch (JsonException)
        {
        }
        return Excerpt(Encoding.UTF8.GetString(bytes));
    }

    private static string Excerpt(string text)
    {
        var flat = text.ReplaceLineEndings(" ").Trim();
        return flat.Length <= ErrorExcerptLength ? flat : flat[..ErrorExcerptLength] + "…";
    }

    private byte[] RequestBody(ChatRequest request, List<List<Image>> images)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteString("model"u8, _model);
            writer.WriteStartArray("messages"u8);
            for (var i = 0; i < request.Messages.Count; i++)
            {
                var message = request.Messages[i];
                writer.WriteStartObject();
                writer.WriteString("role"u8, message.Role);
                if (images[i].Count == 0)
                {
                    writer.WriteString("content"u8, message.Text);
                }
                else
                {
                    writer.WriteStartArray("content"u8);
                    foreach (var image in images[i])
                    {
                        writer.WriteStartObject();
                        writer.WriteString("type"u8, "image_url"u8);
                        writer.WriteStartObject("image_url"u8);
                        writer.WriteString("url"u8, "data:" + image.Mime + ";base64," + Convert.ToBase64String(image.Bytes));
                        writer.WriteEndObject();
                        writer.WriteEndObject();
                    }
                    writer.WriteStartObject();
                    writer.WriteString("type"u8, "text"u8);
                    writer.WriteString("text"u8, message.Text);
                    writer.WriteEndObject();
                    writer.WriteEndArray();
                }
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteNumber("temperature"u8, request.Temperature);
            writer.WriteNumber("max_tokens"u8, request.MaxTokens);
            if (request.Seed is { } seed)
            {
                writer.WriteNumber("seed"u8, seed);
            }
            writer.WriteEndObject();
        }
        return stream.ToArray();
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        TimeSpan? wait = header?.Delta ?? (header?.Date is { } date ? date - _time.GetUtcNow() : null);
        if (wait is null)
        {
            return null;
        }
        return wait.Value < TimeSpan.Zero ? TimeSpan.Zero
            : wait.Value > _options.MaxRetryAfter ? _options.MaxRetryAfter
            : wait.Value;
    }

    // Equal jitter: half of the exponential step is kept so retries still spread out, half is
    // random so that many calls failing together do not retry in lockstep.
    private TimeSpan Backoff(int attempt)
    {
        var step = _options.InitialBackoff.TotalMilliseconds * Math.Pow(2, attempt - 1);
        step = Math.Min(step, _options.MaxBackoff.TotalMilliseconds);
#pragma warning disable CA5394 // jitter needs no cryptographic randomness
        var jittered = (step / 2) + (Random.Shared.NextDouble() * step / 2);
#pragma warning restore CA5394
        return TimeSpan.FromMilliseconds(jittered);
    }

    private sealed record Image(string Mime, byte[] Bytes, byte[] Sha256);

    private readonly record struct Attempt(string? Text, string? Error, bool Retryable, TimeSpan? RetryAfter);

    private static partial class Log
    {
        [LoggerMessage(EventId = 8601, Level = LogLevel.Warning, Message = "Chat call to {Model} failed on attempt {Attempt} ({Reason}); retrying in {DelayMs} ms")]
        public static partial void Retrying(ILogger logger, string model, int attempt, string reason, double delayMs);

        [LoggerMessage(EventId = 8602, Level = LogLevel.Warning, Message = "Chat call to {Model} failed after {Attempts} attempt(s): {Reason}")]
        public static partial void Failed(ILogger logger, string model, int attempts, string reason);

        [LoggerMessage(EventId = 8603, Level = LogLevel.Warning, Message = "Chat reply cache '{Path}' ended in a torn line; dropped its last {Bytes} bytes")]
        public static partial void TornTailDropped(ILogger logger, string path, long bytes);
    }
}
