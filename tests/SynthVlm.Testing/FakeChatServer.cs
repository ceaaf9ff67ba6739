using System.Net;
using System.Text;
using System.Text.Json;

namespace SynthVlm.Testing;

/// <summary>One chat-completions request as <see cref="FakeChatServer"/> saw it.</summary>
/// <param name="Number">1-based arrival number.</param>
/// <param name="Path">The URL path (e.g. <c>/v1/chat/completions</c>).</param>
/// <param name="Authorization">The Authorization header, or null.</param>
/// <param name="Body">The raw request body.</param>
public sealed record FakeChatRequest(int Number, string Path, string? Authorization, string Body)
{
    private JsonElement? _json;

    /// <summary>The body as JSON (an undefined element when it is not JSON).</summary>
    public JsonElement Json => _json ??= Parse(Body);

    /// <summary>The <c>model</c> field, or null.</summary>
    public string? Model => Field("model")?.GetString();

    /// <summary>The <c>temperature</c> field, or null.</summary>
    public double? Temperature => Field("temperature")?.GetDouble();

    /// <summary>The <c>max_tokens</c> field, or null.</summary>
    public int? MaxTokens => Field("max_tokens")?.GetInt32();

    /// <summary>The <c>seed</c> field, or null.</summary>
    public long? Seed => Field("seed")?.GetInt64();

    /// <summary>The text of the last message (a string content, or its text parts joined by newlines).</summary>
    public string LastText => Messages.Count == 0 ? string.Empty : Messages[^1].Text;

    /// <summary>Every message: role, text (text parts joined) and image URLs (data URLs as sent).</summary>
    public IReadOnlyList<(string Role, string Text, IReadOnlyList<string> ImageUrls)> Messages
    {
        get
        {
            var list = new List<(string, string, IReadOnlyList<string>)>();
            if (Field("messages") is not { ValueKind: JsonValueKind.Array } messages)
            {
                return list;
            }
            foreach (var m in messages.EnumerateArray())
            {
                var role = m.TryGetProperty("role", out var r) ? r.GetString() ?? string.Empty : string.Empty;
                var texts = new List<string>();
                var images = new List<string>();
                if (m.TryGetProperty("content", out var content))
                {
                    if (content.ValueKind == JsonValueKind.String)
                    {
                        texts.Add(content.GetString()!);
                    }
                    else if (content.ValueKind == JsonValueKind.Array)
                    {
                        foreach (var part in content.EnumerateArray())
                        {
                            var type = part.TryGetProperty("type", out var t) ? t.GetString() : null;
                            if (type == "text" && part.TryGetProperty("text", out var text))
                            {
                                texts.Add(text.GetString() ?? string.Empty);
                            }
                            else if (type == "image_url" && part.TryGetProperty("image_url", out var url) && url.TryGetProperty("url", out var u))
                            {
                                images.Add(u.GetString() ?? string.Empty);
                            }
                        }
                    }
                }
                list.Add((role, string.Join('\n', texts), images));
            }
            return list;
        }
    }

    private JsonElement? Field(string name) =>
        Json.ValueKind == JsonValueKind.Object && Json.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    private static JsonElement Parse(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return default;
        }
    }
}

/// <summary>
/// What <see cref="FakeChatServer"/> answers: a chat completion whose content is
/// <see cref="Content"/>, or <see cref="RawBody"/> verbatim, with <see cref="Status"/> and
/// <see cref="Headers"/>; <see cref="Delay"/> waits first; <see cref="Hang"/> never answers
/// (until the client gives up or the server stops).
/// </summary>
public sealed record FakeChatReply
{
    /// <summary>The HTTP status (default 200).</summary>
    public int Status { get; init; } = 200;

    /// <summary>The assistant's text; null sends an OpenAI-style error body (or <see cref="RawBody"/>).</summary>
    public string? Content { get; init; }

    /// <summary>The exact body to send, overriding <see cref="Content"/>.</summary>
    public string? RawBody { get; init; }

    /// <summary>A wait before answering.</summary>
    public TimeSpan Delay { get; init; }

    /// <summary>Never answer.</summary>
    public bool Hang { get; init; }

    /// <summary>Response headers (e.g. <c>Retry-After</c>).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>A 200 completion with <paramref name="content"/>.</summary>
    public static FakeChatReply Answer(string content) => new() { Content = content };

    /// <summary>An error status with an OpenAI-style body <c>{"error":{"message":…}}</c>.</summary>
    public static FakeChatReply Error(int status, string message, IReadOnlyDictionary<string, string>? headers = null) => new()
    {
        Status = status,
        RawBody = FakeChatServer.ErrorBody(message),
        Headers = headers ?? new Dictionary<string, string>(),
    };
}

/// <summary>
/// A real OpenAI-compatible chat-completions server on a free loopback port (HttpListener, HTTP/1.1)
/// for tests: each request is answered by a function of the request (scripted replies, failures,
/// hangs); it records every request and the most it served at once. Dispose stops it.
/// </summary>
public sealed class FakeChatServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<FakeChatRequest, FakeChatReply> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly List<FakeChatRequest> _requests = [];
    private readonly List<Task> _serving = [];
    private readonly Lock _lock = new();
    private int _active;
    private int _maxActive;
    private int _count;

    /// <summary>Starts the server; <paramref name="handler"/> answers every request (it may be called concurrently).</summary>
    public FakeChatServer(Func<FakeChatRequest, FakeChatReply> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _handler = handler;
        var port = FreePort.Next();
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        BaseUri = new Uri($"http://127.0.0.1:{port}/v1");
        _accepting = Task.Run(AcceptLoop);
    }

    /// <summary>The API base to give a client (<c>http://127.0.0.1:PORT/v1</c>).</summary>
    public Uri BaseUri { get; }

    /// <summary>Requests received so far.</summary>
    public int RequestCount => Volatile.Read(ref _count);

    /// <summary>The most requests being served at the same moment.</summary>
    public int MaxActive => Volatile.Read(ref _maxActive);

    /// <summary>Every request received, in arrival order.</summary>
    public IReadOnlyList<FakeChatRequest> Requests
    {
        get
        {
            lock (_lock)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>A chat-completion body with <paramref name="content"/> as the assistant's message.</summary>
    /// <remarks>Written with <see cref="Utf8JsonWriter"/>: reflection-based serialization costs hundreds of
    /// milliseconds on first use, enough to trip the short per-attempt timeouts tests use.</remarks>
    public static string Completion(string content, string model = "fake-model") => Write(w =>
    {
        w.WriteString("id", "chatcmpl-fake");
        w.WriteString("object", "chat.completion");
        w.WriteNumber("created", 1_700_000_000);
        w.WriteString("model", model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("message");
        w.WriteString("role", "assistant");
        w.WriteString("content", content);
        w.WriteEndObject();
        w.WriteString("finish_reason", "stop");
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", 10);
        w.WriteNumber("completion_tokens", 1);
        w.WriteNumber("total_tokens", 11);
        w.WriteEndObject();
    });

    /// <summary>An OpenAI-style error body: <c>{"error":{"message":…,"type":"test_error"}}</c>.</summary>
    public static string ErrorBody(string message) => Write(w =>
    {
        w.WriteStartObject("error");
        w.WriteString("message", message);
        w.WriteString("type", "test_error");
        w.WriteEndObject();
    });

    /// <summary>Stops listening and ends every request still being served.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        _listener.Close();
        try
        {
            await _accepting.WaitAsync(TestTimeout.Default);
        }
        catch (ObjectDisposedException)
        {
        }
        catch (HttpListenerException)
        {
        }
        Task[] serving;
        lock (_lock)
        {
            serving = [.. _serving];
        }
        await Task.WhenAll(serving).WaitAsync(TestTimeout.Default);
        _stop.Dispose();
    }

    private static string Write(Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }
            var task = Task.Run(() => Serve(context));
            lock (_lock)
            {
                _serving.Add(task);
            }
        }
    }

    private async Task Serve(HttpListenerContext context)
    {
        var active = Interlocked.Increment(ref _active);
        int seen;
        do
        {
            seen = Volatile.Read(ref _maxActive);
        }
        while (active > seen && Interlocked.CompareExchange(ref _maxActive, active, seen) != seen);
        var decremented = false;
        try
        {
            string body;
            using (var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8))
            {
                body = await reader.ReadToEndAsync(_stop.Token);
            }
            var request = new FakeChatRequest(Interlocked.Increment(ref _count), context.Request.Url!.AbsolutePath, context.Request.Headers["Authorization"], body);
            lock (_lock)
            {
                _requests.Add(request);
            }
            var reply = _handler(request);
            if (reply.Hang)
            {
                await Task.Delay(Timeout.Infinite, _stop.Token);
            }
            if (reply.Delay > TimeSpan.Zero)
            {
                await Task.Delay(reply.Delay, _stop.Token);
            }
            Interlocked.Decrement(ref _active);
            decremented = true;
            var bytes = Encoding.UTF8.GetBytes(reply.RawBody ?? (reply.Content is null
                ? ErrorBody("fake server error")
                : Completion(reply.Content)));
            context.Response.StatusCode = reply.Status;
            context.Response.ContentType = "application/json";
            foreach (var (name, value) in reply.Headers)
            {
                context.Response.Headers[name] = value;
            }
            context.Response.ContentLength64 = bytes.Length;
            await context.Response.OutputStream.WriteAsync(bytes, _stop.Token);
            context.Response.Close();
        }
        catch (Exception)
        {
            // The client gave up (timeout, cancellation), the handler threw, or the server is stopping.
            try
            {
                context.Response.Abort();
            }
            catch (Exception)
            {
            }
        }
        finally
        {
            if (!decremented)
            {
                Interlocked.Decrement(ref _active);
            }
        }
    }
}
