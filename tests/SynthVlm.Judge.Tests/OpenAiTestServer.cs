using System.Net;
using System.Text;
using System.Text.Json;
using SynthVlm.Testing;

namespace SynthVlm.Judge.Tests;

/// <summary>One request as the test server saw it.</summary>
internal sealed record ServerRequest(int Number, string Path, string? Authorization, string Body, string Caption);

/// <summary>
/// What the test server sends back: a chat completion whose content is <see cref="Content"/>, or
/// <see cref="RawBody"/> verbatim, with <see cref="Status"/>; <see cref="Hang"/> never answers.
/// </summary>
internal sealed record ServerReply
{
    public int Status { get; init; } = 200;
    public string? Content { get; init; }
    public string? RawBody { get; init; }
    public TimeSpan Delay { get; init; }
    public bool Hang { get; init; }
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    public static ServerReply Answer(string content) => new() { Content = content };
}

/// <summary>
/// A real OpenAI-compatible HTTP/1.1 server on a free loopback port (System.Net.HttpListener):
/// it counts requests and the most it served at once, and answers through a handler.
/// </summary>
internal sealed class OpenAiTestServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<ServerRequest, ServerReply> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly List<ServerRequest> _requests = [];
    private readonly Lock _lock = new();
    private int _active;
    private int _maxActive;
    private int _count;

    public OpenAiTestServer(Func<ServerRequest, ServerReply> handler)
    {
        _handler = handler;
        var port = FreePort.Next();
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        BaseUri = new Uri($"http://127.0.0.1:{port}/v1");
        _accepting = Task.Run(AcceptLoop);
    }

    /// <summary>The API base to give the judge (<c>…/v1</c>).</summary>
    public Uri BaseUri { get; }

    public int RequestCount => Volatile.Read(ref _count);

    public int MaxActive => Volatile.Read(ref _maxActive);

    public IReadOnlyList<ServerRequest> Requests
    {
        get
        {
            lock (_lock)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>The caption embedded in a judge prompt (between the template's quotes).</summary>
    public static string CaptionOf(string prompt)
    {
        const string Open = "Caption: \"";
        var start = prompt.IndexOf(Open, StringComparison.Ordinal) + Open.Length;
        var end = prompt.LastIndexOf("\"\n\n", StringComparison.Ordinal);
        return start >= Open.Length && end >= start ? prompt[start..end] : string.Empty;
    }

    public static string Completion(string content) => JsonSerializer.Serialize(new
    {
        id = "chatcmpl-test",
        @object = "chat.completion",
        created = 1_700_000_000,
        model = "test-model",
        choices = new[] { new { index = 0, message = new { role = "assistant", content }, finish_reason = "stop" } },
        usage = new { prompt_tokens = 10, completion_tokens = 1, total_tokens = 11 },
    });

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
        _stop.Dispose();
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
            _ = Task.Run(() => Serve(context));
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
                body = await reader.ReadToEndAsync();
            }
            var caption = string.Empty;
            try
            {
                using var doc = JsonDocument.Parse(body);
                caption = CaptionOf(doc.RootElement.GetProperty("messages")[0].GetProperty("content").GetString() ?? string.Empty);
            }
            catch (JsonException)
            {
            }
            var request = new ServerRequest(Interlocked.Increment(ref _count), context.Request.Url!.AbsolutePath,
                context.Request.Headers["Authorization"], body, caption);
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
            var bytes = Encoding.UTF8.GetBytes(reply.RawBody ?? (reply.Content is null ? "{\"error\":{\"message\":\"test\"}}" : Completion(reply.Content)));
            context.Response.StatusCode = reply.Status;
            context.Response.ContentType = "application/json";
            foreach (var (name, value) in reply.Headers)
            {
                context.Response.Headers[name] = value;
            }
            context.Response.ContentLength64 = bytes.Length;
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
        catch (Exception)
        {
            // The client gave up (timeout, cancellation) or the server is stopping.
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
