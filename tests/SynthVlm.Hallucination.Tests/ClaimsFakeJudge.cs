using System.Collections.Concurrent;
using SynthVlm.ChatEndpoints;
using SynthVlm.Testing;

namespace SynthVlm.Hallucination.Tests;

/// <summary>
/// A scripted judge behind a real <see cref="FakeChatServer"/>: extraction requests (they quote
/// <c>Caption: "…"</c>) are answered from <see cref="Extractions"/>, verification requests
/// (<c>Statement: "…"</c>) from <see cref="Verdicts"/>; anything unscripted gets an HTTP 400, which
/// the client does not retry. Also makes small image files in a temporary folder it deletes.
/// </summary>
internal sealed class ClaimsFakeJudge : IAsyncDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("synthvlm-claims-").FullName;
    private readonly List<OpenAiChatClient> _clients = [];

    public ClaimsFakeJudge()
    {
        Server = new FakeChatServer(Answer);
    }

    public FakeChatServer Server { get; }

    public string Folder => _folder;

    /// <summary>Caption → the extractor's reply (or an error reply).</summary>
    public ConcurrentDictionary<string, FakeChatReply> Extractions { get; } = new(StringComparer.Ordinal);

    /// <summary>Claim → the verifier's reply.</summary>
    public ConcurrentDictionary<string, FakeChatReply> Verdicts { get; } = new(StringComparer.Ordinal);

    public IEnumerable<FakeChatRequest> ExtractionRequests => Server.Requests.Where(r => r.LastText.Contains("Caption: \"", StringComparison.Ordinal));

    public IEnumerable<FakeChatRequest> VerificationRequests => Server.Requests.Where(r => r.LastText.Contains("Statement: \"", StringComparison.Ordinal));

    public void Extract(string caption, params string[] claims) =>
        Extractions[caption] = FakeChatReply.Answer(string.Join('\n', claims.Select(c => "- " + c)));

    public void Verdict(string claim, string reply) => Verdicts[claim] = FakeChatReply.Answer(reply);

    /// <summary>A small file that sniffs as PNG; <paramref name="name"/> also varies its bytes.</summary>
    public string Image(string name)
    {
        var path = Path.Combine(_folder, name + ".png");
        byte[] bytes = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, .. System.Text.Encoding.UTF8.GetBytes(name)];
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>A client of the server (no retries, short backoff), disposed with the fake.</summary>
    public OpenAiChatClient Client(string model = "fake-judge", string? cacheFile = null, int maxConcurrency = 8)
    {
        var client = new OpenAiChatClient(new OpenAiChatOptions
        {
            Endpoint = Server.BaseUri,
            Model = model,
            ApiKey = "test",
            MaxRetries = 1,
            InitialBackoff = TimeSpan.FromMilliseconds(1),
            MaxBackoff = TimeSpan.FromMilliseconds(5),
            Timeout = TimeSpan.FromSeconds(20),
            CacheFile = cacheFile,
            MaxConcurrency = maxConcurrency,
        });
        _clients.Add(client);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }
        await Server.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    private FakeChatReply Answer(FakeChatRequest request)
    {
        var text = request.LastText;
        if (Quoted(text, "Caption: \"") is { } caption)
        {
            return Extractions.TryGetValue(caption, out var reply) ? reply : FakeChatReply.Error(400, "unscripted caption: " + caption);
        }
        if (Quoted(text, "Statement: \"") is { } claim)
        {
            return Verdicts.TryGetValue(claim, out var reply) ? reply : FakeChatReply.Error(400, "unscripted claim: " + claim);
        }
        return FakeChatReply.Error(400, "not a claims request");
    }

    private static string? Quoted(string text, string marker)
    {
        var start = text.IndexOf(marker, StringComparison.Ordinal);
        if (start < 0)
        {
            return null;
        }
        start += marker.Length;
        var end = text.IndexOf("\"\n\n", start, StringComparison.Ordinal);
        return end < 0 ? null : text[start..end];
    }
}
