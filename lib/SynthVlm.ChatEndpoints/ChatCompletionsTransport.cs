using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace SynthVlm.ChatEndpoints;

/// <summary>How <see cref="ChatCompletionsTransport"/> sends and how hard it tries.</summary>
/// <param name="ChatCompletionsUri">The full URL, e.g. <c>http://127.0.0.1:8000/v1/chat/completions</c>.</param>
/// <param name="ApiKey">The bearer token, or null to send no Authorization header.</param>
/// <param name="MaxConcurrency">The most requests on the wire at once.</param>
/// <param name="Timeout">The limit on one attempt (headers and body).</param>
/// <param name="MaxRetries">Retries after the first attempt.</param>
/// <param name="InitialBackoff">The backoff before the first retry (doubles per retry, equal jitter).</param>
/// <param name="MaxBackoff">The cap on one computed backoff.</param>
/// <param name="MaxRetryAfter">The cap on a server's Retry-After.</param>
public sealed record ChatTransportSettings(
    Uri ChatCompletionsUri,
    string? ApiKey,
    int MaxConcurrency,
    TimeSpan Timeout,
    int MaxRetries,
    TimeSpan InitialBackoff,
    TimeSpan MaxBackoff,
    TimeSpan MaxRetryAfter);

/// <summary>What a caller makes of a 2xx body: the content, or an error and whether another attempt may help.</summary>
/// <param name="Content">The reply text, or null on error.</param>
/// <param name="Error">Why the body is unusable, or null.</param>
/// <param name="Retryable">Whether to try again.</param>
public readonly record struct ChatBodyReading(string? Content, string? Error, bool Retryable);

/// <summary>The end of a call.</summary>
/// <param name="Content">The reply text (null when the call failed).</param>
/// <param name="Error">The last attempt's error, or null on success.</param>
/// <param name="Attempts">HTTP attempts made.</param>
/// <param name="GaveUp">True when the retries ran out (the error was retryable).</param>
public readonly record struct ChatCallResult(string? Content, string? Error, int Attempts, bool GaveUp);

/// <summary>
/// The HTTP side of an OpenAI-compatible chat-completions call, shared by
/// <see cref="OpenAiChatClient"/> and the caption judge: a POST with the JSON body, bearer
/// authentication, a per-attempt timeout, a concurrency bound that counts requests on the wire
/// (not calls waiting out a backoff), and retries on 408, 429, 5xx, timeouts and connection errors
/// after the server's Retry-After or an exponential backoff with equal jitter. Other 4xx end the
/// call at once with the server's <c>error.message</c>. Never throws for endpoint trouble (that is
/// a failed <see cref="ChatCallResult"/>); only the caller's cancellation ends a call early.
/// </summary>
public sealed class ChatCompletionsTransport : IDisposable
{
    private const int ErrorExcerptLength = 300;

    private readonly ChatTransportSettings _settings;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly SemaphoreSlim _slots;
    private readonly TimeProvider _time;
    private int _requestsSent;

    /// <summary>Creates the transport.</summary>
    /// <param name="settings">URL, key, limits.</param>
    /// <param name="httpClient">An HTTP client to use (not disposed here); null makes a private one.</param>
    /// <param name="timeProvider">The clock for timeouts and backoff; null for the system clock.</param>
    public ChatCompletionsTransport(ChatTransportSettings settings, HttpClient? httpClient = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MaxConcurrency, 1, nameof(settings));
        _settings = settings;
        _time = timeProvider ?? TimeProvider.System;
        _slots = new SemaphoreSlim(settings.MaxConcurrency, settings.MaxConcurrency);
        if (httpClient is null)
        {
            // Per-attempt deadlines are ours (linked tokens), so the client's own timeout is off.
            _http = new HttpClient(new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                ConnectTimeout = settings.Timeout,
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
    }

    /// <summary>The URL every request goes to.</summary>
    public Uri Uri => _settings.ChatCompletionsUri;

    /// <summary>HTTP requests sent so far (retries included).</summary>
    public int RequestsSent => Volatile.Read(ref _requestsSent);

    /// <summary>The server's error text: <c>error.message</c> (or <c>error</c> or <c>message</c>) of a JSON body, else the body, on one line and shortened.</summary>
    public static string ErrorMessage(byte[] body)
    {
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            using var document = JsonDocument.Parse(body);
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
        return Excerpt(Encoding.UTF8.GetString(body));
    }

    /// <summary>
    /// <c>choices[0].message.content</c> of a completion body: the string, <paramref name="nullContent"/>
    /// when it is JSON null, or null when the body is not a completion.
    /// </summary>
    public static bool TryReadContent(byte[] body, string? nullContent, out string? content)
    {
        ArgumentNullException.ThrowIfNull(body);
        content = null;
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("choices", out var choices)
                && choices.ValueKind == JsonValueKind.Array
                && choices.GetArrayLength() > 0
                && choices[0].ValueKind == JsonValueKind.Object
                && choices[0].TryGetProperty("message", out var message)
                && message.ValueKind == JsonValueKind.Object
                && message.TryGetProperty("content", out var value))
            {
                if (value.ValueKind == JsonValueKind.String)
                {
                    content = value.GetString();
                    return true;
                }
                if (value.ValueKind == JsonValueKind.Null && nullContent is not null)
                {
                    content = nullContent;
                    return true;
                }
            }
        }
        catch (JsonException)
        {
        }
        return false;
    }

    /// <summary>Sends <paramref name="body"/> until a usable reply, a final error, or the retries run out.</summary>
    /// <param name="body">The request JSON.</param>
    /// <param name="read">Reads a 2xx body.</param>
    /// <param name="onRetry">Told (attempt, error, delay) before each retry; null for nothing.</param>
    /// <param name="cancellationToken">The caller's token; cancelling it throws <see cref="OperationCanceledException"/>.</param>
    public async Task<ChatCallResult> SendAsync(byte[] body, Func<byte[], ChatBodyReading> read, Action<int, string, TimeSpan>? onRetry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(read);
        var maxAttempts = _settings.MaxRetries + 1;
        for (var attempt = 1; ; attempt++)
        {
            Attempt result;
            await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                Interlocked.Increment(ref _requestsSent);
                result = await AttemptAsync(body, read, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                _slots.Release();
            }
            if (result.Error is null)
            {
                return new ChatCallResult(result.Content, null, attempt, false);
            }
            if (!result.Retryable)
            {
                return new ChatCallResult(null, result.Error, attempt, false);
            }
            if (attempt >= maxAttempts)
            {
                return new ChatCallResult(null, result.Error, attempt, true);
            }
            var delay = result.RetryAfter ?? Backoff(attempt);
            onRetry?.Invoke(attempt, result.Error, delay);
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Releases the private HTTP client, if any.</summary>
    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
        _slots.Dispose();
    }

    private async Task<Attempt> AttemptAsync(byte[] body, Func<byte[], ChatBodyReading> read, CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource(_settings.Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        using var request = new HttpRequestMessage(HttpMethod.Post, _settings.ChatCompletionsUri) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (_settings.ApiKey is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _settings.ApiKey);
        }
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            var bytes = await response.Content.ReadAsByteArrayAsync(linked.Token).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                var reading = read(bytes);
                return new Attempt(reading.Content, reading.Error, reading.Retryable, null);
            }
            var error = string.Create(CultureInfo.InvariantCulture, $"http {status} {response.ReasonPhrase}: {ErrorMessage(bytes)}");
            var retryable = status is 408 or 429 || status >= 500;
            return new Attempt(null, error, retryable, retryable ? RetryAfter(response) : null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new Attempt(null, string.Create(CultureInfo.InvariantCulture, $"timeout after {_settings.Timeout.TotalSeconds:0.###} s"), true, null);
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

    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        TimeSpan? wait = header?.Delta ?? (header?.Date is { } date ? date - _time.GetUtcNow() : null);
        if (wait is null)
        {
            return null;
        }
        return wait.Value < TimeSpan.Zero ? TimeSpan.Zero
            : wait.Value > _settings.MaxRetryAfter ? _settings.MaxRetryAfter
            : wait.Value;
    }

    // Equal jitter: half of the exponential step is kept so retries still spread out, half is
    // random so that many calls failing together do not retry in lockstep.
    private TimeSpan Backoff(int attempt)
    {
        var step = _settings.InitialBackoff.TotalMilliseconds * Math.Pow(2, attempt - 1);
        step = Math.Min(step, _settings.MaxBackoff.TotalMilliseconds);
#pragma warning disable CA5394 // jitter needs no cryptographic randomness
        var jittered = (step / 2) + (Random.Shared.NextDouble() * step / 2);
#pragma warning restore CA5394
        return TimeSpan.FromMilliseconds(jittered);
    }

    private static string Excerpt(string text)
    {
        var flat = text.ReplaceLineEndings(" ").Trim();
        return flat.Length <= ErrorExcerptLength ? flat : flat[..ErrorExcerptLength] + "…";
    }

    private readonly record struct Attempt(string? Content, string? Error, bool Retryable, TimeSpan? RetryAfter);
}
