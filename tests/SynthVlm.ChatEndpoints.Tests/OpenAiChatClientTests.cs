using System.Text;
using SynthVlm.Testing;

namespace SynthVlm.ChatEndpoints.Tests;

/// <summary>
/// <see cref="OpenAiChatClient"/> against a real HTTP server on loopback (<see cref="FakeChatServer"/>).
/// No test asserts on time: waits that must not happen are made minutes long, so a test that
/// finishes within its timeout proves they were skipped.
/// </summary>
public sealed class OpenAiChatClientTests : IDisposable
{
    private static readonly TimeSpan Never = TimeSpan.FromMinutes(10);
    private readonly string _dir = Directory.CreateTempSubdirectory("chat-client-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Retries_5xx_408_and_429_then_answers()
    {
        var statuses = new[] { 500, 503, 408, 429 };
        await using var server = new FakeChatServer(r => r.Number <= statuses.Length
            ? FakeChatReply.Error(statuses[r.Number - 1], "busy")
            : FakeChatReply.Answer("fine"));
        using var client = Client(server, o => o with { MaxRetries = 4, InitialBackoff = TimeSpan.Zero });

        var reply = await client.CompleteAsync(Ask("hello")).WithTimeout();

        reply.Text.Should().Be("fine");
        reply.FromCache.Should().BeFalse();
        server.RequestCount.Should().Be(5);
        client.RequestsSent.Should().Be(5);
    }

    [Fact]
    public async Task Gives_up_after_max_retries_with_the_last_error()
    {
        await using var server = new FakeChatServer(_ => FakeChatReply.Error(502, "bad gateway upstream"));
        using var client = Client(server, o => o with { MaxRetries = 2, InitialBackoff = TimeSpan.Zero });

        var act = () => client.CompleteAsync(Ask("hello")).WithTimeout();

        (await act.Should().ThrowAsync<ChatModelException>())
            .Which.Message.Should().Contain("502").And.Contain("bad gateway upstream").And.Contain("gave up after 3 attempts").And.Contain("test-model");
        server.RequestCount.Should().Be(3);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("3600")] // capped by MaxRetryAfter = 0
    [InlineData("Wed, 21 Oct 2015 07:28:00 GMT")] // an HTTP date in the past: no wait
    public async Task Retry_after_replaces_the_backoff(string retryAfter)
    {
        await using var server = new FakeChatServer(r => r.Number == 1
            ? FakeChatReply.Error(429, "slow down", new Dictionary<string, string> { ["Retry-After"] = retryAfter })
            : FakeChatReply.Answer("ok"));
        // The computed backoff would be ten minutes: finishing at all shows Retry-After was used.
        using var client = Client(server, o => o with { InitialBackoff = Never, MaxBackoff = Never, MaxRetryAfter = TimeSpan.Zero });

        var reply = await client.CompleteAsync(Ask("hello")).WithTimeout();

        reply.Text.Should().Be("ok");
        server.RequestCount.Should().Be(2);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(404)]
    [InlineData(422)]
    public async Task Other_4xx_fail_at_once_with_the_servers_message(int status)
    {
        await using var server = new FakeChatServer(_ => FakeChatReply.Error(status, "The model `nope` does not exist"));
        using var client = Client(server, o => o with { InitialBackoff = Never });

        var act = () => client.CompleteAsync(Ask("hello")).WithTimeout();

        (await act.Should().ThrowAsync<ChatModelException>())
            .Which.Message.Should().Contain($"http {status}").And.Contain("The model `nope` does not exist").And.NotContain("gave up");
        server.RequestCount.Should().Be(1);
    }

    [Fact]
    public async Task An_attempt_that_hangs_times_out_and_is_retried()
    {
        await using var server = new FakeChatServer(r => r.Number == 1 ? new FakeChatReply { Hang = true } : FakeChatReply.Answer("late but fine"));
        using var client = Client(server, o => o with { Timeout = TimeSpan.FromSeconds(1), InitialBackoff = TimeSpan.Zero });

        var reply = await client.CompleteAsync(Ask("hello")).WithTimeout();

        reply.Text.Should().Be("late but fine");
        server.RequestCount.Should().Be(2);
    }

    [Fact]
    public async Task Timeouts_on_every_attempt_end_in_an_error_naming_the_timeout()
    {
        await using var server = new FakeChatServer(_ => new FakeChatReply { Hang = true });
        using var client = Client(server, o => o with { Timeout = TimeSpan.FromMilliseconds(200), MaxRetries = 1, InitialBackoff = TimeSpan.Zero });

        var act = () => client.CompleteAsync(Ask("hello")).WithTimeout();

        (await act.Should().ThrowAsync<ChatModelException>()).Which.Message.Should().Contain("timeout after 0.2 s");
        server.RequestCount.Should().Be(2);
    }

    [Fact]
    public async Task The_callers_cancellation_ends_the_call_as_a_cancellation_not_a_model_error()
    {
        await using var server = new FakeChatServer(_ => new FakeChatReply { Hang = true });
        using var client = Client(server);
        using var cancel = new CancellationTokenSource();

        var call = client.CompleteAsync(Ask("hello"), cancel.Token);
        await TestTimeout.Until(() => server.RequestCount == 1, what: "the request at the server");
        await cancel.CancelAsync();

        await FluentActions.Awaiting(() => call.WithTimeout()).Should().ThrowAsync<OperationCanceledException>();
        server.RequestCount.Should().Be(1);
    }

    [Fact]
    public async Task A_malformed_200_body_is_retried_and_a_dropped_connection_too()
    {
        await using var server = new FakeChatServer(r => r.Number switch
        {
            1 => new FakeChatReply { RawBody = "<html>proxy error</html>" },
            2 => throw new InvalidOperationException("handler fails: the server drops the connection"),
            _ => FakeChatReply.Answer("ok"),
        });
        using var client = Client(server, o => o with { InitialBackoff = TimeSpan.Zero });

        (await client.CompleteAsync(Ask("hello")).WithTimeout()).Text.Should().Be("ok");
        server.RequestCount.Should().Be(3);
    }

    [Fact]
    public async Task Concurrency_is_bounded_by_the_option()
    {
        await using var server = new FakeChatServer(r => new FakeChatReply { Content = "a", Delay = TimeSpan.FromMilliseconds(40) });
        using var client = Client(server, o => o with { MaxConcurrency = 3 });

        var calls = Enumerable.Range(0, 24).Select(i => client.CompleteAsync(Ask($"question {i}")));
        await Task.WhenAll(calls).WithTimeout();

        server.RequestCount.Should().Be(24);
        server.MaxActive.Should().BeInRange(1, 3);
    }

    [Fact]
    public async Task Images_travel_as_base64_data_urls_before_the_text_with_the_sampling_fields()
    {
        var png = Path.Combine(_dir, "a.png");
        var jpg = Path.Combine(_dir, "b.jpeg");
        byte[] pngBytes = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3];
        byte[] jpgBytes = [0xFF, 0xD8, 0xFF, 0xE0, 9, 8, 7];
        await File.WriteAllBytesAsync(png, pngBytes);
        await File.WriteAllBytesAsync(jpg, jpgBytes);
        await using var server = new FakeChatServer(_ => FakeChatReply.Answer("two images"));
        using var client = Client(server, o => o with { ApiKey = "sk-test" });

        await client.CompleteAsync(new ChatRequest(
            [ChatMessage.System("be brief"), ChatMessage.User("What differs?", png, jpg)], Temperature: 0.2, MaxTokens: 77, Seed: 5)).WithTimeout();

        var request = server.Requests.Single();
        request.Path.Should().Be("/v1/chat/completions");
        request.Authorization.Should().Be("Bearer sk-test");
        request.Model.Should().Be("test-model");
        request.Temperature.Should().Be(0.2);
        request.MaxTokens.Should().Be(77);
        request.Seed.Should().Be(5);
        request.Messages.Should().HaveCount(2);
        request.Messages[0].Role.Should().Be("system");
        request.Messages[0].Text.Should().Be("be brief");
        request.Messages[0].ImageUrls.Should().BeEmpty();
        request.Messages[1].ImageUrls.Should().Equal(
            "data:image/png;base64," + Convert.ToBase64String(pngBytes),
            "data:image/jpeg;base64," + Convert.ToBase64String(jpgBytes));
        var content = request.Json.GetProperty("messages")[1].GetProperty("content");
        content[0].GetProperty("type").GetString().Should().Be("image_url");
        content[2].GetProperty("type").GetString().Should().Be("text");
        content[2].GetProperty("text").GetString().Should().Be("What differs?");
        request.Json.GetProperty("messages")[0].GetProperty("content").GetString().Should().Be("be brief");
    }

    [Fact]
    public async Task A_missing_or_unknown_image_fails_before_any_request()
    {
        var text = Path.Combine(_dir, "not-an-image.png");
        await File.WriteAllTextAsync(text, "hello");
        await using var server = new FakeChatServer(_ => FakeChatReply.Answer("x"));
        using var client = Client(server);

        var missing = () => client.CompleteAsync(new ChatRequest([ChatMessage.User("q", Path.Combine(_dir, "gone.png"))])).WithTimeout();
        var unknown = () => client.CompleteAsync(new ChatRequest([ChatMessage.User("q", text)])).WithTimeout();

        (await missing.Should().ThrowAsync<ChatModelException>()).Which.Message.Should().Contain("gone.png");
        (await unknown.Should().ThrowAsync<ChatModelException>()).Which.Message.Should().Contain("not-an-image.png").And.Contain("68656C6C6F");
        server.RequestCount.Should().Be(0);
    }

    [Fact]
    public async Task A_rerun_with_the_cache_file_sends_nothing_and_a_changed_image_misses()
    {
        var cache = Path.Combine(_dir, "replies.jsonl");
        var image = Path.Combine(_dir, "i.png");
        await File.WriteAllBytesAsync(image, [0x89, 0x50, 0x4E, 0x47, 1]);
        await using var server = new FakeChatServer(r => FakeChatReply.Answer("reply " + r.Number));
        var requests = new[]
        {
            Ask("greedy"),
            new ChatRequest([ChatMessage.User("seeded")], Temperature: 0.9, Seed: 1),
            new ChatRequest([ChatMessage.User("with image", image)]),
        };
        using (var first = Client(server, o => o with { CacheFile = cache }))
        {
            foreach (var r in requests)
            {
                (await first.CompleteAsync(r).WithTimeout()).FromCache.Should().BeFalse();
            }
            (await first.CompleteAsync(requests[0]).WithTimeout()).Should().Be(new ChatReply("reply 1", FromCache: true));
        }
        server.RequestCount.Should().Be(3);

        using (var second = Client(server, o => o with { CacheFile = cache }))
        {
            var replies = new List<ChatReply>();
            foreach (var r in requests)
            {
                replies.Add(await second.CompleteAsync(r).WithTimeout());
            }
            replies.Should().Equal(new ChatReply("reply 1", true), new ChatReply("reply 2", true), new ChatReply("reply 3", true));
            server.RequestCount.Should().Be(3);

            // Same path, other bytes: a new key.
            await File.WriteAllBytesAsync(image, [0x89, 0x50, 0x4E, 0x47, 2]);
            (await second.CompleteAsync(requests[2]).WithTimeout()).Should().Be(new ChatReply("reply 4"));
            // Other max_tokens, other seed: new keys.
            (await second.CompleteAsync(requests[0] with { MaxTokens = 5 }).WithTimeout()).FromCache.Should().BeFalse();
            (await second.CompleteAsync(requests[1] with { Seed = 2 }).WithTimeout()).FromCache.Should().BeFalse();
        }
        server.RequestCount.Should().Be(6);
    }

    [Fact]
    public async Task Identical_cacheable_calls_at_once_share_one_request_and_a_failure_is_not_cached()
    {
        var fail = true;
        await using var server = new FakeChatServer(r => Volatile.Read(ref fail)
            ? FakeChatReply.Error(400, "context too long")
            : new FakeChatReply { Content = "shared", Delay = TimeSpan.FromMilliseconds(100) });
        using var client = Client(server);

        var failed = () => client.CompleteAsync(Ask("same")).WithTimeout();
        await failed.Should().ThrowAsync<ChatModelException>();
        Volatile.Write(ref fail, false);
        var replies = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => client.CompleteAsync(Ask("same")))).WithTimeout();

        replies.Select(r => r.Text).Should().AllBe("shared");
        replies.Count(r => !r.FromCache).Should().Be(1);
        server.RequestCount.Should().Be(2);
    }

    [Fact]
    public async Task Sampled_calls_without_a_seed_are_never_cached()
    {
        var cache = Path.Combine(_dir, "replies.jsonl");
        await using var server = new FakeChatServer(r => FakeChatReply.Answer("draw " + r.Number));
        using var client = Client(server, o => o with { CacheFile = cache });
        var sampled = new ChatRequest([ChatMessage.User("describe")], Temperature: 0.7);

        (await client.CompleteAsync(sampled).WithTimeout()).Text.Should().Be("draw 1");
        (await client.CompleteAsync(sampled).WithTimeout()).Text.Should().Be("draw 2");

        OpenAiChatClient.IsCacheable(sampled).Should().BeFalse();
        (await File.ReadAllTextAsync(cache)).Should().BeEmpty();
    }

    [Fact]
    public async Task A_torn_last_cache_line_is_dropped_and_appending_goes_on_cleanly()
    {
        var cache = Path.Combine(_dir, "replies.jsonl");
        await using var server = new FakeChatServer(r => FakeChatReply.Answer("reply " + r.Number));
        using (var first = Client(server, o => o with { CacheFile = cache }))
        {
            await first.CompleteAsync(Ask("one")).WithTimeout();
        }
        await File.AppendAllTextAsync(cache, "{\"key\":\"abc\",\"model\":\"test-mo");

        using (var second = Client(server, o => o with { CacheFile = cache }))
        {
            (await second.CompleteAsync(Ask("one")).WithTimeout()).FromCache.Should().BeTrue();
            (await second.CompleteAsync(Ask("two")).WithTimeout()).FromCache.Should().BeFalse();
        }
        var lines = await File.ReadAllLinesAsync(cache);
        lines.Should().HaveCount(2).And.OnlyContain(l => l.StartsWith("{\"key\":", StringComparison.Ordinal) && l.EndsWith('}'));
        server.RequestCount.Should().Be(2);
    }

    [Fact]
    public async Task A_corrupt_complete_cache_line_is_an_error_naming_file_and_line()
    {
        var cache = Path.Combine(_dir, "replies.jsonl");
        await File.WriteAllTextAsync(cache, "\nnot json\n", Encoding.UTF8);
        await using var server = new FakeChatServer(_ => FakeChatReply.Answer("x"));

        var act = () => Client(server, o => o with { CacheFile = cache });

        act.Should().Throw<InvalidDataException>().Which.Message.Should().Contain(cache).And.Contain("line 2");
    }

    [Fact]
    public void Options_name_the_unusable_setting()
    {
        var good = new OpenAiChatOptions { Endpoint = new Uri("http://127.0.0.1:1/v1"), Model = "m" };
        good.Invoking(o => o.Validate()).Should().NotThrow();
        (good with { Model = " " }).Invoking(o => o.Validate()).Should().Throw<ArgumentException>().WithMessage("*Model*");
        (good with { Endpoint = new Uri("ftp://x/v1") }).Invoking(o => o.Validate()).Should().Throw<ArgumentException>().WithMessage("*Endpoint*ftp://x/v1*");
        (good with { MaxConcurrency = 0 }).Invoking(o => o.Validate()).Should().Throw<ArgumentException>().WithMessage("*MaxConcurrency*");
        (good with { Timeout = TimeSpan.Zero }).Invoking(o => o.Validate()).Should().Throw<ArgumentException>().WithMessage("*Timeout*");
        good.ChatCompletionsUri().Should().Be(new Uri("http://127.0.0.1:1/v1/chat/completions"));
    }

    [Fact]
    public async Task Option_scores_are_read_from_the_first_tokens_top_logprobs_as_evaluate_py_reads_them_and_cached()
    {
        const string Body = """
            {"choices":[{"index":0,"message":{"role":"assistant","content":"B"},"logprobs":{"content":[{"token":"B","logprob":-0.2,
             "top_logprobs":[{"token":"B","logprob":-0.2},{"token":" A","logprob":-2.5},{"token":"A","logprob":-1.75},{"token":"C ","logprob":-3},{"token":"x","logprob":-0.1}]}]}}]}
            """;
        await using var server = new FakeChatServer(_ => new FakeChatReply { RawBody = Body });
        var cache = Path.Combine(_dir, "cache.jsonl");
        using var client = Client(server, o => o with { CacheFile = cache });
        var request = Ask("Answer:") with { Temperature = 0.7, MaxTokens = 50, Seed = 3 };

        var scores = await client.ScoreOptionsAsync(request, ["A", "B", "C", "D"]).WithTimeout();
        var again = await client.ScoreOptionsAsync(request, ["A", "B", "C", "D"]).WithTimeout();
        var reply = await client.CompleteAsync(Ask("Answer:")).WithTimeout();

        scores.Should().Equal(-1.75, -0.2, -3, OpenAiChatClient.AbsentOptionLogprob);
        again.Should().Equal(scores);
        server.RequestCount.Should().Be(2, "the second scoring comes from the cache, and a plain completion has its own key");
        var sent = server.Requests[0];
        sent.MaxTokens.Should().Be(1);
        sent.Temperature.Should().Be(0);
        sent.Seed.Should().BeNull();
        sent.Json.GetProperty("logprobs").GetBoolean().Should().BeTrue();
        sent.Json.GetProperty("top_logprobs").GetInt32().Should().Be(OpenAiChatClient.TopLogprobs);
        server.Requests[1].Json.TryGetProperty("logprobs", out _).Should().BeFalse();
        reply.Text.Should().Be("B");
    }

    [Fact]
    public async Task A_server_without_logprobs_fails_option_scoring_at_once_saying_so()
    {
        await using var server = new FakeChatServer(_ => FakeChatReply.Answer("A"));
        using var client = Client(server, o => o with { MaxRetries = 3, Cache = false });

        var act = () => client.ScoreOptionsAsync(Ask("Answer:"), ["A", "B"]);

        await act.Should().ThrowAsync<ChatModelException>().WithMessage("*logprobs*");
        server.RequestCount.Should().Be(1, "a server that does not give logprobs will not start on a retry");
    }

    private static ChatRequest Ask(string text) => new([ChatMessage.User(text)]);

    private static OpenAiChatClient Client(FakeChatServer server, Func<OpenAiChatOptions, OpenAiChatOptions>? configure = null)
    {
        var options = new OpenAiChatOptions
        {
            Endpoint = server.BaseUri,
            Model = "test-model",
            ApiKey = "unused",
            Timeout = TimeSpan.FromSeconds(20),
            InitialBackoff = TimeSpan.Zero,
        };
        return new OpenAiChatClient(configure is null ? options : configure(options));
    }
}
