using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SynthVlm.ChatEndpoints;
using SynthVlm.Core.Concurrency;

namespace SynthVlm.Judge;

/// <summary>
/// Asks an OpenAI-compatible chat-completions endpoint (<c>POST {Endpoint}/chat/completions</c>)
/// whether each caption is a good, detailed, visually grounded description, with the
/// <see cref="JudgePrompt"/> question at temperature 0.
/// </summary>
/// <remarks>
/// <para>
/// A caption's trouble stays with that caption: HTTP errors, timeouts, dropped connections and
/// unreadable answers become a <see cref="JudgeOutcome.Failed"/> verdict with a reason, so a run
/// never stalls or dies on one bad call. Only cancellation of the caller's token ends a call early.
/// </para>
/// <para>
/// Retries (up to <see cref="JudgeOptions.MaxRetries"/>) follow 408, 429, 5xx, timeouts and
/// connection errors, waiting for the server's <c>Retry-After</c> when it sends one and otherwise
/// an exponential backoff with jitter; other 4xx answers (a bad key, an unknown model) fail at
/// once because repeating them cannot help. The concurrency limit counts requests on the wire:
/// a caption waiting out its backoff gives its slot to another. This HTTP side is
/// <see cref="ChatCompletionsTransport"/>, shared with <see cref="OpenAiChatClient"/>; an HTTP
/// error's reason carries the server's <c>error.message</c> when the body has one.
/// </para>
/// <para>
/// Yes/No verdicts are cached by SHA-256 of (model, <see cref="JudgePrompt.Version"/>, caption),
/// in memory and optionally in a JSONL file; identical captions judged at the same time share one
/// request. Failures are never cached, so a rerun asks again.
/// </para>
/// </remarks>
public sealed partial class CaptionJudge : IDisposable
{
    private readonly JudgeOptions _options;
    private readonly string _model;
    private readonly ChatCompletionsTransport _transport;
    private readonly VerdictCache _cache;
    private readonly SharedCalls<VerdictKey, CallResult> _inFlight = new();
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    /// <summary>Creates a judge; throws <see cref="ArgumentException"/> naming the first unusable option.</summary>
    /// <param name="options">Endpoint, model, limits and cache settings.</param>
    /// <param name="httpClient">An HTTP client to use (not disposed by the judge); null makes a private one.</param>
    /// <param name="logger">Receives retries and failures; null for none.</param>
    /// <param name="timeProvider">The clock for timeouts, backoff and timings; null for the system clock.</param>
    /// <exception cref="InvalidDataException">The cache file holds a line that is not a verdict record.</exception>
    public CaptionJudge(JudgeOptions options, HttpClient? httpClient = null, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _model = options.Model!;
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _cache = new VerdictCache(options.CacheCapacity, options.CacheFile);
        // The HTTP side (retries, Retry-After, backoff, timeouts, concurrency) is the chat endpoints' shared transport.
        _transport = new ChatCompletionsTransport(
            new ChatTransportSettings(options.ChatCompletionsUri(), options.ResolveApiKey(), options.MaxConcurrency, options.Timeout,
                options.MaxRetries, options.InitialBackoff, options.MaxBackoff, options.MaxRetryAfter),
            httpClient,
            _time);
        if (_cache.TornBytesDropped > 0)
        {
            Log.TornTailDropped(_logger, options.CacheFile!, _cache.TornBytesDropped);
        }
    }

    /// <summary>The URL every request goes to.</summary>
    public Uri ChatCompletionsUri => _transport.Uri;

    /// <summary>How many distinct verdicts the cache file held at start plus those added since.</summary>
    public int FileCacheCount => _cache.FileCount;

    /// <summary>Judges one caption; the verdict's <see cref="JudgeVerdict.Id"/> is empty.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<JudgeVerdict> JudgeAsync(string caption, CancellationToken cancellationToken = default) =>
        JudgeAsync(string.Empty, caption, cancellationToken);

    /// <summary>
    /// Judges one caption. Never throws for endpoint trouble (that is a <see cref="JudgeOutcome.Failed"/>
    /// verdict); throws only for null arguments and cancellation.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<JudgeVerdict> JudgeAsync(string id, string caption, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(caption);
        cancellationToken.ThrowIfCancellationRequested();
        var started = _time.GetTimestamp();
        if (string.IsNullOrWhiteSpace(caption))
        {
            return new JudgeVerdict(id, JudgeOutcome.Failed, null, "empty caption", 0, false, Elapsed(started));
        }

        var key = VerdictKey.Compute(_model, JudgePrompt.Version, caption);
        var (result, source) = await _inFlight.RunAsync(
            key,
            () => _cache.TryGet(key, out var cached) ? (true, new CallResult(cached.Outcome, cached.Answer, null, 0)) : (false, default),
            async () =>
            {
                var fresh = await CallWithRetriesAsync(id, caption, cancellationToken).ConfigureAwait(false);
                if (fresh.Outcome != JudgeOutcome.Failed)
                {
                    _cache.Add(key, new CachedVerdict(fresh.Outcome, fresh.Answer), _model);
                }
                return fresh;
            },
            cancellationToken).ConfigureAwait(false);
        return source switch
        {
            SharedCallSource.Called => new JudgeVerdict(id, result.Outcome, result.Answer, result.Reason, result.Attempts, false, Elapsed(started)),
            // A failure shared by an identical call in flight is not a cached verdict.
            SharedCallSource.Shared when result.Outcome == JudgeOutcome.Failed => new JudgeVerdict(id, result.Outcome, result.Answer, result.Reason, 0, false, Elapsed(started)),
            _ => new JudgeVerdict(id, result.Outcome, result.Answer, null, 0, true, Elapsed(started)),
        };
    }

    /// <summary>
    /// Judges many captions, up to <see cref="JudgeOptions.MaxConcurrency"/> requests at a time and
    /// <see cref="JudgeOptions.ReadAhead"/> captions ahead, yielding verdicts in input order. A
    /// caption that fails yields a <see cref="JudgeOutcome.Failed"/> verdict and the rest go on;
    /// only cancellation stops the sequence (with <see cref="OperationCanceledException"/>).
    /// </summary>
    public async IAsyncEnumerable<JudgeVerdict> JudgeManyAsync(
        IEnumerable<(string Id, string Caption)> captions,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(captions);
        await foreach (var verdict in OrderedWindow.SelectAsync(
            captions.ToAsyncEnumerable(),
            _options.ReadAhead,
            (item, token) => item.Caption is null
                ? Task.FromResult(new JudgeVerdict(item.Id ?? string.Empty, JudgeOutcome.Failed, null, "missing caption", 0, false, 0))
                : JudgeAsync(item.Id ?? string.Empty, item.Caption, token),
            cancellationToken).ConfigureAwait(false))
        {
            yield return verdict;
        }
    }

    /// <summary>Releases the private HTTP client (if any) and the cache file.</summary>
    public void Dispose()
    {
        _transport.Dispose();
        _cache.Dispose();
    }

    private async Task<CallResult> CallWithRetriesAsync(string id, string caption, CancellationToken cancellationToken)
    {
        var result = await _transport.SendAsync(RequestBody(caption), ReadCompletion,
            (attempt, error, delay) => Log.Retrying(_logger, id, attempt, error, delay.TotalMilliseconds), cancellationToken).ConfigureAwait(false);
        if (result.Error is not null)
        {
            var reason = result.GaveUp
                ? string.Create(CultureInfo.InvariantCulture, $"{result.Error} (gave up after {result.Attempts} attempts)")
                : result.Error;
            Log.Failed(_logger, id, result.Attempts, reason);
            return new CallResult(JudgeOutcome.Failed, null, reason, result.Attempts);
        }
        // A readable answer is never retried, whatever it says.
        var outcome = JudgePrompt.ParseAnswer(result.Content!, out var unparseable);
        if (outcome == JudgeOutcome.Failed)
        {
            Log.Failed(_logger, id, result.Attempts, unparseable!);
        }
        return new CallResult(outcome, result.Content, unparseable, result.Attempts);
    }

    // A 200 whose body is not a completion fails the caption at once (it is not retried).
    private static ChatBodyReading ReadCompletion(byte[] bytes) =>
        ChatCompletionsTransport.TryReadContent(bytes, nullContent: null, out var content)
            ? new ChatBodyReading(content, null, false)
            : new ChatBodyReading(null, "malformed response (no choices[0].message.content): "
                + JudgePrompt.Excerpt(Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 400)), JudgePrompt.UnparseableExcerptLength), false);

    private byte[] RequestBody(string caption)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteString("model"u8, _model);
            writer.WriteStartArray("messages"u8);
            writer.WriteStartObject();
            writer.WriteString("role"u8, "user"u8);
            writer.WriteString("content"u8, JudgePrompt.Build(caption));
            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteNumber("temperature"u8, 0);
            writer.WriteNumber("max_tokens"u8, _options.MaxTokens);
            writer.WriteEndObject();
        }
        return stream.ToArray();
    }

    private double Elapsed(long started) => _time.GetElapsedTime(started).TotalMilliseconds;

    private readonly record struct CallResult(JudgeOutcome Outcome, string? Answer, string? Reason, int Attempts);

    private static partial class Log
    {
        [LoggerMessage(EventId = 8501, Level = LogLevel.Warning, Message = "Judge call for caption '{Id}' failed on attempt {Attempt} ({Reason}); retrying in {DelayMs} ms")]
        public static partial void Retrying(ILogger logger, string id, int attempt, string reason, double delayMs);

        [LoggerMessage(EventId = 8502, Level = LogLevel.Warning, Message = "Judge gave caption '{Id}' a Failed verdict after {Attempts} attempt(s): {Reason}")]
        public static partial void Failed(ILogger logger, string id, int attempts, string reason);

        [LoggerMessage(EventId = 8503, Level = LogLevel.Warning, Message = "Verdict cache '{Path}' ended in a torn line; dropped its last {Bytes} bytes")]
        public static partial void TornTailDropped(ILogger logger, string path, long bytes);
    }
}
