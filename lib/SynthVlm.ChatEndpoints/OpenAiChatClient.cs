using System.Globalization;
using System.Security.Cryptography;
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
/// <c>top_p</c> is sent only when the request's <see cref="ChatRequest.TopP"/> is below 1, so a request
/// without it is byte for byte what it was before (and the server's own default applies).
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
/// caching it would silently turn N samples into N copies of one. Identical cacheable calls made
/// at the same time share one request; failures are not cached, so a re-run asks again.
/// </para>
/// <para>
/// Option scoring (<see cref="ScoreOptionsAsync"/>) asks for one token with <c>logprobs</c> and the
/// top <see cref="TopLogprobs"/> alternatives, and is cached like a temperature-0 call (its own key).
/// </para>
/// </remarks>
public sealed partial class OpenAiChatClient : IOptionScoringModel, IDisposable
{
    private readonly string _model;
    private readonly ChatCompletionsTransport _transport;
    private readonly ChatReplyCache? _cache;
    private readonly SharedCalls<string, string> _inFlight = new(StringComparer.Ordinal);
    private readonly ILogger _logger;

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
        _model = options.Model!;
        _logger = logger ?? NullLogger.Instance;
        _cache = options.Cache ? new ChatReplyCache(options.CacheFile) : null;
        _transport = new ChatCompletionsTransport(
            new ChatTransportSettings(options.ChatCompletionsUri(), options.ResolveApiKey(), options.MaxConcurrency, options.Timeout,
                options.MaxRetries, options.InitialBackoff, options.MaxBackoff, options.MaxRetryAfter),
            httpClient,
            timeProvider);
        if (_cache is { TornBytesDropped: > 0 })
        {
            Log.TornTailDropped(_logger, _cache.Path!, _cache.TornBytesDropped);
        }
    }

    /// <inheritdoc />
    public string ModelName => _model;

    /// <summary>The URL every request goes to.</summary>
    public Uri ChatCompletionsUri => _transport.Uri;

    /// <summary>HTTP requests sent so far (attempts, retries included; cache hits send none).</summary>
    public int RequestsSent => _transport.RequestsSent;

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
        request.ValidateTopP();
        cancellationToken.ThrowIfCancellationRequested();
        var images = await ReadImagesAsync(request, cancellationToken).ConfigureAwait(false);
        if (_cache is null || !IsCacheable(request))
        {
            return new ChatReply(await CallWithRetriesAsync(RequestBody(request, images), ReadCompletion, cancellationToken).ConfigureAwait(false));
        }
        var key = ChatReplyCache.Key(_model, request, [.. images.Select(m => (IReadOnlyList<byte[]>)[.. m.Select(i => i.Sha256)])]);
        // Identical cacheable calls at the same time share one request.
        var (text, source) = await _inFlight.RunAsync(
            key,
            () => (_cache.TryGet(key, out var cached), cached),
            async () =>
            {
                var fresh = await CallWithRetriesAsync(RequestBody(request, images), ReadCompletion, cancellationToken).ConfigureAwait(false);
                _cache.Add(key, _model, fresh);
                return fresh;
            },
            cancellationToken).ConfigureAwait(false);
        return source == SharedCallSource.Called ? new ChatReply(text) : new ChatReply(text, FromCache: true);
    }

    /// <summary>How many alternatives option scoring asks for (<c>top_logprobs</c>; OpenAI allows at most 20).</summary>
    public const int TopLogprobs = 20;

    /// <summary>The score of an option absent from the top alternatives: hendrycks/test's evaluate.py puts −100 there.</summary>
    public const double AbsentOptionLogprob = -100;

    /// <summary>
    /// Scores each option as the first token of the reply by its log-probability, the way hendrycks/test's
    /// evaluate.py reads an API model: one token at temperature 0 with the top <see cref="TopLogprobs"/>
    /// alternatives (<c>choices[0].logprobs.content[0].top_logprobs</c>); an option's score is the highest
    /// log-probability among alternatives whose token, leading and trailing white space removed, is the option
    /// (chat models answer "A" where completion models answer " A"); an option not among them scores
    /// <see cref="AbsentOptionLogprob"/>.
    /// </summary>
    /// <exception cref="ChatModelException">The endpoint failed after retries, or its answer has no logprobs (the server does not support them).</exception>
    public async Task<IReadOnlyList<double>> ScoreOptionsAsync(ChatRequest request, IReadOnlyList<string> options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(options);
        if (request.Messages is null || request.Messages.Count == 0)
        {
            throw new ArgumentException("a chat request needs at least one message.", nameof(request));
        }
        if (options.Count == 0)
        {
            throw new ArgumentException("option scoring needs at least one option.", nameof(options));
        }
        var scoring = request with { Temperature = 0, MaxTokens = 1, Seed = null, TopP = 1 };
        var images = await ReadImagesAsync(scoring, cancellationToken).ConfigureAwait(false);
        var body = RequestBody(scoring, images, TopLogprobs);
        string alternatives;
        if (_cache is null)
        {
            alternatives = await CallWithRetriesAsync(body, ReadTopLogprobs, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var key = ChatReplyCache.Key(_model, scoring, [.. images.Select(m => (IReadOnlyList<byte[]>)[.. m.Select(i => i.Sha256)])], "top_logprobs=" + TopLogprobs.ToString(CultureInfo.InvariantCulture));
            (alternatives, _) = await _inFlight.RunAsync(
                key,
                () => (_cache.TryGet(key, out var cached), cached),
                async () =>
                {
                    var fresh = await CallWithRetriesAsync(body, ReadTopLogprobs, cancellationToken).ConfigureAwait(false);
                    _cache.Add(key, _model, fresh);
                    return fresh;
                },
                cancellationToken).ConfigureAwait(false);
        }
        return OptionScores(alternatives, options);
    }

    /// <summary>Each option's score from the alternatives as <see cref="ScoreOptionsAsync"/> stores them (a JSON array of {token, logprob}).</summary>
    internal static double[] OptionScores(string alternatives, IReadOnlyList<string> options)
    {
        var scores = new double[options.Count];
        Array.Fill(scores, double.NegativeInfinity);
        using var document = JsonDocument.Parse(alternatives);
        foreach (var entry in document.RootElement.EnumerateArray())
        {
            var token = entry.GetProperty("token").GetString()!.Trim();
            var logprob = entry.GetProperty("logprob").GetDouble();
            for (var i = 0; i < options.Count; i++)
            {
                if (string.Equals(token, options[i], StringComparison.Ordinal) && logprob > scores[i])
                {
                    scores[i] = logprob;
                }
            }
        }
        for (var i = 0; i < scores.Length; i++)
        {
            if (double.IsNegativeInfinity(scores[i]))
            {
                scores[i] = AbsentOptionLogprob;
            }
        }
        return scores;
    }

    // choices[0].logprobs.content[0].top_logprobs, kept as [{"token","logprob"}]. A 200 without them is a
    // server that does not do logprobs: asking again will not help.
    private static ChatBodyReading ReadTopLogprobs(byte[] bytes)
    {
        try
        {
            using var document = JsonDocument.Parse(bytes);
            if (document.RootElement.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array && choices.GetArrayLength() > 0
                && choices[0].TryGetProperty("logprobs", out var logprobs) && logprobs.ValueKind == JsonValueKind.Object
                && logprobs.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array && content.GetArrayLength() > 0
                && content[0].TryGetProperty("top_logprobs", out var top) && top.ValueKind == JsonValueKind.Array)
            {
                using var stream = new MemoryStream();
                using (var writer = new Utf8JsonWriter(stream))
                {
                    writer.WriteStartArray();
                    foreach (var alternative in top.EnumerateArray())
                    {
                        if (alternative.TryGetProperty("token", out var token) && token.ValueKind == JsonValueKind.String
                            && alternative.TryGetProperty("logprob", out var logprob) && logprob.ValueKind == JsonValueKind.Number)
                        {
                            writer.WriteStartObject();
                            writer.WriteString("token"u8, token.GetString());
                            writer.WriteNumber("logprob"u8, logprob.GetDouble());
                            writer.WriteEndObject();
                        }
                    }
                    writer.WriteEndArray();
                }
                return new ChatBodyReading(System.Text.Encoding.UTF8.GetString(stream.ToArray()), null, false);
            }
        }
        catch (JsonException)
        {
        }
        return new ChatBodyReading(null, "no choices[0].logprobs.content[0].top_logprobs in the answer (does the server support logprobs?): " + ChatCompletionsTransport.ErrorMessage(bytes), false);
    }

    /// <summary>Releases the private HTTP client (if any) and the cache file.</summary>
    public void Dispose()
    {
        _transport.Dispose();
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

    private async Task<string> CallWithRetriesAsync(byte[] body, Func<byte[], ChatBodyReading> read, CancellationToken cancellationToken)
    {
        var result = await _transport.SendAsync(body, read, (attempt, error, delay) => Log.Retrying(_logger, _model, attempt, error, delay.TotalMilliseconds), cancellationToken).ConfigureAwait(false);
        if (result.Error is null)
        {
            return result.Content!;
        }
        Log.Failed(_logger, _model, result.Attempts, result.Error);
        throw new ChatModelException(result.GaveUp
            ? string.Create(CultureInfo.InvariantCulture, $"{_model} at {_transport.Uri}: {result.Error} (gave up after {result.Attempts} attempts)")
            : $"{_model} at {_transport.Uri}: {result.Error}");
    }

    // A null content (a refusal, a tool call) is an empty answer: what a grader parses as garbage.
    // A 200 whose body is not a completion is a broken proxy or server: worth another try.
    private static ChatBodyReading ReadCompletion(byte[] bytes) =>
        ChatCompletionsTransport.TryReadContent(bytes, string.Empty, out var content)
            ? new ChatBodyReading(content, null, false)
            : new ChatBodyReading(null, "malformed response (no choices[0].message.content): " + ChatCompletionsTransport.ErrorMessage(bytes), true);

    private byte[] RequestBody(ChatRequest request, List<List<Image>> images, int? topLogprobs = null)
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
            if (request.HasTopP)
            {
                writer.WriteNumber("top_p"u8, request.TopP);
            }
            if (topLogprobs is { } top)
            {
                writer.WriteBoolean("logprobs"u8, true);
                writer.WriteNumber("top_logprobs"u8, top);
            }
            writer.WriteEndObject();
        }
        return stream.ToArray();
    }

    private sealed record Image(string Mime, byte[] Bytes, byte[] Sha256);

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
