using SynthVlm.Testing;

namespace SynthVlm.ChatEndpoints.Tests;

/// <summary><see cref="ChatRequest.TopP"/>: on the wire only below 1, in the cache key only below 1.</summary>
public sealed class TopPTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("chat-top-p-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Top_p_is_sent_below_1_and_left_out_at_1()
    {
        await using var server = new FakeChatServer(_ => FakeChatReply.Answer("ok"));
        using var client = Client(server, cacheFile: null);

        await client.CompleteAsync(new ChatRequest([ChatMessage.User("a")], Temperature: 0.7, Seed: 1, TopP: 0.9)).WithTimeout();
        await client.CompleteAsync(new ChatRequest([ChatMessage.User("b")], Temperature: 0.7, Seed: 1)).WithTimeout();
        await client.CompleteAsync(new ChatRequest([ChatMessage.User("c")], Temperature: 0.7, Seed: 1, TopP: 1)).WithTimeout();

        var requests = server.Requests.OrderBy(r => r.Messages[0].Text, StringComparer.Ordinal).ToList();
        requests[0].Json.GetProperty("top_p").GetDouble().Should().Be(0.9);
        requests[1].Json.TryGetProperty("top_p", out _).Should().BeFalse();
        requests[2].Json.TryGetProperty("top_p", out _).Should().BeFalse();
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public async Task A_top_p_outside_0_to_1_fails_before_any_request_naming_it(double topP)
    {
        await using var server = new FakeChatServer(_ => FakeChatReply.Answer("ok"));
        using var client = Client(server, cacheFile: null);

        var act = () => client.CompleteAsync(new ChatRequest([ChatMessage.User("a")], Temperature: 0.7, TopP: topP));

        (await act.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.Message.Should().Contain("top_p");
        server.RequestCount.Should().Be(0);
    }

    [Fact]
    public void The_cache_key_of_a_request_without_top_p_is_the_one_written_before_top_p_existed()
    {
        // SHA-256 of the key's encoding as it was before TopP (computed independently in Python from that encoding:
        // "synthvlm-chat-cache/1", model, 1 message, role, text, 0 images, "0.7", 64, "3"; strings length-prefixed).
        const string Before = "d34c5e315e157354b5f351742b57bd52b8ad31f87fead44107a65119ef2ef5e5";
        var request = new ChatRequest([ChatMessage.User("describe")], Temperature: 0.7, MaxTokens: 64, Seed: 3);

        ChatReplyCache.Key("m", request, [[]]).Should().Be(Before);
        ChatReplyCache.Key("m", request with { TopP = 1 }, [[]]).Should().Be(Before);
        var nucleus = ChatReplyCache.Key("m", request with { TopP = 0.9 }, [[]]);
        nucleus.Should().NotBe(Before);
        ChatReplyCache.Key("m", request with { TopP = 0.95 }, [[]]).Should().NotBe(nucleus);
    }

    [Fact]
    public async Task A_cached_reply_is_only_reused_for_the_same_top_p()
    {
        var cache = Path.Combine(_dir, "replies.jsonl");
        await using var server = new FakeChatServer(r => FakeChatReply.Answer("reply " + r.Number));
        var plain = new ChatRequest([ChatMessage.User("describe")], Temperature: 0.7, Seed: 3);
        using (var first = Client(server, cache))
        {
            (await first.CompleteAsync(plain).WithTimeout()).Text.Should().Be("reply 1");
            (await first.CompleteAsync(plain with { TopP = 0.9 }).WithTimeout()).Should().Be(new ChatReply("reply 2"));
        }
        using var second = Client(server, cache);

        (await second.CompleteAsync(plain with { TopP = 0.9 }).WithTimeout()).Should().Be(new ChatReply("reply 2", FromCache: true));
        (await second.CompleteAsync(plain).WithTimeout()).Should().Be(new ChatReply("reply 1", FromCache: true));
        (await second.CompleteAsync(plain with { TopP = 0.5 }).WithTimeout()).Should().Be(new ChatReply("reply 3"));
        server.RequestCount.Should().Be(3);
    }

    [Fact]
    public async Task Option_scoring_sends_no_top_p()
    {
        await using var server = new FakeChatServer(_ => new FakeChatReply { RawBody = """
            {"choices":[{"index":0,"message":{"role":"assistant","content":"A"},"logprobs":{"content":[{"token":"A","logprob":-0.1,"top_logprobs":[{"token":"A","logprob":-0.1}]}]}}]}
            """ });
        using var client = Client(server, cacheFile: null);

        await client.ScoreOptionsAsync(new ChatRequest([ChatMessage.User("Answer:")], TopP: 0.5), ["A", "B"]).WithTimeout();

        server.Requests.Single().Json.TryGetProperty("top_p", out _).Should().BeFalse();
    }

    private static OpenAiChatClient Client(FakeChatServer server, string? cacheFile) => new(new OpenAiChatOptions
    {
        Endpoint = server.BaseUri,
        Model = "test-model",
        ApiKey = "unused",
        Timeout = TimeSpan.FromSeconds(20),
        InitialBackoff = TimeSpan.Zero,
        CacheFile = cacheFile,
    });
}
