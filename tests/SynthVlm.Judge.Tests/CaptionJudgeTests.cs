using System.Diagnostics;
using System.Text.Json;
using SynthVlm.Testing;

namespace SynthVlm.Judge.Tests;

public sealed class CaptionJudgeTests
{
    private static JudgeOptions Fast(FakeChatServer server) => new()
    {
        Endpoint = server.BaseUri,
        Model = "test-model",
        ApiKey = "test-key",
        Timeout = TimeSpan.FromSeconds(5),
        InitialBackoff = TimeSpan.FromMilliseconds(10),
        MaxBackoff = TimeSpan.FromMilliseconds(50),
        MaxRetryAfter = TimeSpan.FromSeconds(5),
    };

    private static async Task<List<JudgeVerdict>> Collect(IAsyncEnumerable<JudgeVerdict> verdicts, CancellationToken token = default)
    {
        var list = new List<JudgeVerdict>();
        await foreach (var v in verdicts.WithCancellation(token))
        {
            list.Add(v);
        }
        return list;
    }

    [Fact]
    public async Task Yes_and_no_answers_become_verdicts_and_the_request_follows_the_protocol()
    {
        await using var server = new FakeChatServer(r => FakeChatReply.Answer(r.Caption().Contains("dog", StringComparison.Ordinal) ? "Yes." : "no"));
        using var judge = new CaptionJudge(Fast(server) with { MaxTokens = 3 });

        var yes = await judge.JudgeAsync("c1", "A brown dog with a red collar sits behind a window.").WithTimeout();
        var no = await judge.JudgeAsync("c2", "click here 4 free stuff").WithTimeout();

        yes.Should().BeEquivalentTo(new { Id = "c1", Outcome = JudgeOutcome.Yes, Answer = "Yes.", Reason = (string?)null, Attempts = 1, FromCache = false });
        no.Should().BeEquivalentTo(new { Id = "c2", Outcome = JudgeOutcome.No, Answer = "no", Attempts = 1, FromCache = false });
        var request = server.Requests[0];
        request.Path.Should().Be("/v1/chat/completions");
        request.Authorization.Should().Be("Bearer test-key");
        using var body = JsonDocument.Parse(request.Body);
        body.RootElement.GetProperty("model").GetString().Should().Be("test-model");
        body.RootElement.GetProperty("temperature").GetDouble().Should().Be(0);
        body.RootElement.GetProperty("max_tokens").GetInt32().Should().Be(3);
        var message = body.RootElement.GetProperty("messages")[0];
        message.GetProperty("role").GetString().Should().Be("user");
        message.GetProperty("content").GetString().Should().Be(JudgePrompt.Build("A brown dog with a red collar sits behind a window."));
    }

    [Fact]
    public async Task A_garbage_answer_is_a_failed_verdict_with_its_first_80_characters_and_is_not_cached()
    {
        var garbage = "I think " + new string('x', 200);
        await using var server = new FakeChatServer(_ => FakeChatReply.Answer(garbage));
        using var judge = new CaptionJudge(Fast(server));

        var first = await judge.JudgeAsync("g", "A cat on a mat.").WithTimeout();
        var second = await judge.JudgeAsync("g", "A cat on a mat.").WithTimeout();

        first.Outcome.Should().Be(JudgeOutcome.Failed);
        first.Answer.Should().Be(garbage);
        first.Reason.Should().Be("unparseable: " + garbage[..80]);
        first.Attempts.Should().Be(1, "a readable HTTP answer is not retried");
        second.FromCache.Should().BeFalse();
        server.RequestCount.Should().Be(2, "failed verdicts are never cached");
    }

    [Fact]
    public async Task A_malformed_completion_body_is_a_failed_verdict()
    {
        await using var server = new FakeChatServer(_ => new FakeChatReply { RawBody = "{\"choices\":[]}" });
        using var judge = new CaptionJudge(Fast(server));

        var verdict = await judge.JudgeAsync("m", "A red bus on a street.").WithTimeout();

        verdict.Outcome.Should().Be(JudgeOutcome.Failed);
        verdict.Reason.Should().StartWith("malformed response");
    }

    [Fact]
    public async Task A_server_error_then_success_is_retried_and_counts_two_attempts()
    {
        await using var server = new FakeChatServer(r => r.Number == 1 ? new FakeChatReply { Status = 500 } : FakeChatReply.Answer("Yes"));
        using var judge = new CaptionJudge(Fast(server));

        var verdict = await judge.JudgeAsync("r", "A lighthouse on a rocky coast at dusk.").WithTimeout();

        verdict.Outcome.Should().Be(JudgeOutcome.Yes);
        verdict.Attempts.Should().Be(2);
        server.RequestCount.Should().Be(2);
    }

    [Fact]
    public async Task Too_many_requests_waits_for_retry_after_before_retrying()
    {
        var stamps = new long[3];
        await using var server = new FakeChatServer(r =>
        {
            stamps[r.Number] = Stopwatch.GetTimestamp();
            return r.Number == 1
                ? new FakeChatReply { Status = 429, Headers = new Dictionary<string, string> { ["Retry-After"] = "1" } }
                : FakeChatReply.Answer("yes");
        });
        // A 1 ms backoff: only the header can explain a gap of a second.
        using var judge = new CaptionJudge(Fast(server) with { InitialBackoff = TimeSpan.FromMilliseconds(1), MaxBackoff = TimeSpan.FromMilliseconds(1) });

        var verdict = await judge.JudgeAsync("t", "Two children fly a kite on a beach.").WithTimeout();

        verdict.Outcome.Should().Be(JudgeOutcome.Yes);
        verdict.Attempts.Should().Be(2);
        // Lower bound only: a sleep can overrun but never end early.
        Stopwatch.GetElapsedTime(stamps[1], stamps[2]).Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(900));
    }

    [Fact]
    public async Task A_retry_after_longer_than_the_cap_is_shortened()
    {
        await using var server = new FakeChatServer(r => r.Number == 1
            ? new FakeChatReply { Status = 503, Headers = new Dictionary<string, string> { ["Retry-After"] = "3600" } }
            : FakeChatReply.Answer("No"));
        using var judge = new CaptionJudge(Fast(server) with { MaxRetryAfter = TimeSpan.FromMilliseconds(20) });

        var verdict = await judge.JudgeAsync("cap", "A bowl of ramen with an egg.").WithTimeout(TimeSpan.FromSeconds(20));

        verdict.Outcome.Should().Be(JudgeOutcome.No);
        verdict.Attempts.Should().Be(2);
    }

    [Fact]
    public async Task A_hanging_server_gives_a_failed_timeout_verdict_after_all_retries_in_bounded_time()
    {
        await using var server = new FakeChatServer(_ => new FakeChatReply { Hang = true });
        using var judge = new CaptionJudge(Fast(server) with { Timeout = TimeSpan.FromMilliseconds(200), MaxRetries = 2 });
        var clock = Stopwatch.StartNew();

        var verdict = await judge.JudgeAsync("h", "A train crossing a stone bridge.").WithTimeout();

        verdict.Outcome.Should().Be(JudgeOutcome.Failed);
        verdict.Attempts.Should().Be(3);
        verdict.Reason.Should().StartWith("timeout after 0.2 s").And.Contain("gave up after 3 attempts");
        await TestTimeout.Until(() => server.RequestCount == 3, what: "three attempts at the server");
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(15), "three 200 ms attempts and two short backoffs");
    }

    [Fact]
    public async Task Unauthorized_is_not_retried_and_the_verdict_names_the_status()
    {
        await using var server = new FakeChatServer(_ => new FakeChatReply { Status = 401, RawBody = "{\"error\":{\"message\":\"Incorrect API key provided\"}}" });
        using var judge = new CaptionJudge(Fast(server));

        var verdict = await judge.JudgeAsync("u", "A sailboat on a calm lake.").WithTimeout();

        verdict.Outcome.Should().Be(JudgeOutcome.Failed);
        verdict.Attempts.Should().Be(1);
        verdict.Reason.Should().StartWith("http 401").And.Contain("Incorrect API key provided");
        server.RequestCount.Should().Be(1);
    }

    [Theory]
    [InlineData(400, 1)]
    [InlineData(404, 1)]
    [InlineData(408, 3)]
    [InlineData(502, 3)]
    public async Task Only_408_429_and_5xx_are_retried(int status, int expectedAttempts)
    {
        await using var server = new FakeChatServer(_ => new FakeChatReply { Status = status });
        using var judge = new CaptionJudge(Fast(server) with { MaxRetries = 2 });

        var verdict = await judge.JudgeAsync("s", "A snowy mountain under a clear sky.").WithTimeout();

        verdict.Outcome.Should().Be(JudgeOutcome.Failed);
        verdict.Attempts.Should().Be(expectedAttempts);
        verdict.Reason.Should().StartWith($"http {status}");
        server.RequestCount.Should().Be(expectedAttempts);
    }

    [Fact]
    public async Task A_refused_connection_is_retried_then_failed()
    {
        var closedPort = FreePort.Next();
        using var judge = new CaptionJudge(new JudgeOptions
        {
            Endpoint = new Uri($"http://127.0.0.1:{closedPort}/v1"),
            Model = "m",
            MaxRetries = 1,
            InitialBackoff = TimeSpan.FromMilliseconds(5),
            Timeout = TimeSpan.FromSeconds(5),
        });

        var verdict = await judge.JudgeAsync("c", "A market stall full of oranges.").WithTimeout();

        verdict.Outcome.Should().Be(JudgeOutcome.Failed);
        verdict.Attempts.Should().Be(2);
        verdict.Reason.Should().StartWith("connection error");
    }

    [Fact]
    public async Task The_concurrency_limit_bounds_simultaneous_requests()
    {
        await using var server = new FakeChatServer(_ => FakeChatReply.Answer("yes") with { Delay = TimeSpan.FromMilliseconds(150) });
        using var judge = new CaptionJudge(Fast(server) with { MaxConcurrency = 3 });
        var captions = Enumerable.Range(0, 12).Select(i => ($"id{i}", $"Caption number {i}: a bicycle against a wall."));

        var verdicts = await Collect(judge.JudgeManyAsync(captions, TestTimeout.Token()));

        verdicts.Should().HaveCount(12).And.OnlyContain(v => v.Outcome == JudgeOutcome.Yes);
        server.RequestCount.Should().Be(12);
        server.MaxActive.Should().BeLessThanOrEqualTo(3);
        server.MaxActive.Should().BeGreaterThanOrEqualTo(2, "requests do run in parallel");
    }

    [Fact]
    public async Task JudgeMany_yields_in_input_order_and_a_failing_caption_does_not_stop_the_rest()
    {
        // Earlier captions answer later, so completion order is the reverse of input order.
        await using var server = new FakeChatServer(r =>
        {
            if (r.Caption().StartsWith("bad", StringComparison.Ordinal))
            {
                return new FakeChatReply { Status = 401 };
            }
            var index = int.Parse(r.Caption().AsSpan(0, 1), System.Globalization.CultureInfo.InvariantCulture);
            return FakeChatReply.Answer(index % 2 == 0 ? "Yes" : "No") with { Delay = TimeSpan.FromMilliseconds((8 - index) * 40) };
        });
        using var judge = new CaptionJudge(Fast(server) with { MaxConcurrency = 8 });
        var captions = new List<(string, string)>();
        for (var i = 0; i < 8; i++)
        {
            captions.Add(($"id{i}", $"{i} a scene"));
            if (i == 3)
            {
                captions.Add(("bad", "bad caption"));
            }
        }

        var verdicts = await Collect(judge.JudgeManyAsync(captions, TestTimeout.Token()));

        verdicts.Select(v => v.Id).Should().Equal(captions.Select(c => c.Item1));
        verdicts.Single(v => v.Id == "bad").Outcome.Should().Be(JudgeOutcome.Failed);
        verdicts.Where(v => v.Id != "bad").Select(v => v.Outcome).Should().Equal(
            JudgeOutcome.Yes, JudgeOutcome.No, JudgeOutcome.Yes, JudgeOutcome.No, JudgeOutcome.Yes, JudgeOutcome.No, JudgeOutcome.Yes, JudgeOutcome.No);
    }

    [Fact]
    public async Task A_repeated_caption_reaches_the_server_once()
    {
        await using var server = new FakeChatServer(_ => FakeChatReply.Answer("Yes") with { Delay = TimeSpan.FromMilliseconds(100) });
        using var judge = new CaptionJudge(Fast(server));
        const string Caption = "A yellow taxi waits at a crossing in the rain.";
        var captions = Enumerable.Range(0, 5).Select(i => ($"dup{i}", Caption));

        var many = await Collect(judge.JudgeManyAsync(captions, TestTimeout.Token()));
        var later = await judge.JudgeAsync("again", Caption).WithTimeout();

        server.RequestCount.Should().Be(1);
        many.Should().OnlyContain(v => v.Outcome == JudgeOutcome.Yes);
        many.Count(v => !v.FromCache).Should().Be(1);
        later.FromCache.Should().BeTrue();
        later.Attempts.Should().Be(0);
        later.Answer.Should().Be("Yes");
    }

    [Fact]
    public async Task The_cache_key_includes_the_model()
    {
        await using var server = new FakeChatServer(_ => FakeChatReply.Answer("Yes"));
        using var a = new CaptionJudge(Fast(server) with { Model = "model-a" });
        using var b = new CaptionJudge(Fast(server) with { Model = "model-b" });
        var file = Path.Combine(Path.GetTempPath(), $"judge-{Guid.NewGuid():N}.jsonl");
        try
        {
            using (var c = new CaptionJudge(Fast(server) with { Model = "model-a", CacheFile = file }))
            {
                await c.JudgeAsync("x", "A fox in the snow.").WithTimeout();
            }
            using var d = new CaptionJudge(Fast(server) with { Model = "model-b", CacheFile = file });
            (await d.JudgeAsync("x", "A fox in the snow.").WithTimeout()).FromCache.Should().BeFalse();
            server.RequestCount.Should().Be(2);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task The_file_cache_survives_a_new_client_and_a_torn_last_line()
    {
        var file = Path.Combine(Path.GetTempPath(), $"judge-{Guid.NewGuid():N}.jsonl");
        try
        {
            await using (var server = new FakeChatServer(r => FakeChatReply.Answer(r.Caption().Contains("dog", StringComparison.Ordinal) ? "Yes" : "No")))
            using (var judge = new CaptionJudge(Fast(server) with { CacheFile = file }))
            {
                await Collect(judge.JudgeManyAsync([("1", "A dog on a sofa."), ("2", "buy now"), ("3", "A dog in a park.")], TestTimeout.Token()));
                server.RequestCount.Should().Be(3);
            }
            File.ReadAllLines(file).Should().HaveCount(3);
            // A crash in the middle of a write leaves an unterminated tail.
            await File.AppendAllTextAsync(file, "{\"key\":\"ab");

            await using (var failing = new FakeChatServer(r => r.Caption() == "A cat." ? FakeChatReply.Answer("Yes") : new FakeChatReply { Status = 500 }))
            using (var judge = new CaptionJudge(Fast(failing) with { CacheFile = file, CacheCapacity = 1 }))
            {
                judge.FileCacheCount.Should().Be(3);
                var again = await Collect(judge.JudgeManyAsync([("1", "A dog on a sofa."), ("2", "buy now"), ("3", "A dog in a park."), ("4", "A cat.")], TestTimeout.Token()));
                again.Select(v => v.Outcome).Should().Equal(JudgeOutcome.Yes, JudgeOutcome.No, JudgeOutcome.Yes, JudgeOutcome.Yes);
                again.Take(3).Should().OnlyContain(v => v.FromCache && v.Attempts == 0);
                failing.RequestCount.Should().Be(1, "only the new caption is asked");
            }

            var lines = File.ReadAllLines(file);
            lines.Should().HaveCount(4, "the torn tail was dropped and the new verdict appended on its own line");
            using var last = JsonDocument.Parse(lines[^1]);
            last.RootElement.GetProperty("outcome").GetString().Should().Be("yes");
            last.RootElement.GetProperty("model").GetString().Should().Be("test-model");
            last.RootElement.GetProperty("key").GetString().Should().HaveLength(64);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void A_corrupt_line_inside_the_cache_file_is_reported_with_its_line_number()
    {
        var file = Path.Combine(Path.GetTempPath(), $"judge-{Guid.NewGuid():N}.jsonl");
        try
        {
            File.WriteAllText(file, "not json\n{\"key\":\"" + new string('0', 64) + "\",\"outcome\":\"yes\",\"answer\":\"Yes\"}\n");
            var act = () => new CaptionJudge(new JudgeOptions { Endpoint = new Uri("http://127.0.0.1:1/v1"), Model = "m", CacheFile = file });
            act.Should().Throw<InvalidDataException>().WithMessage($"*{file}*line 1*");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Cancellation_stops_JudgeMany_and_JudgeAsync_promptly()
    {
        await using var server = new FakeChatServer(_ => new FakeChatReply { Hang = true });
        using var judge = new CaptionJudge(Fast(server) with { Timeout = TimeSpan.FromSeconds(30) });
        var clock = Stopwatch.StartNew();

        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var many = () => Collect(judge.JudgeManyAsync([("a", "A red kite."), ("b", "A blue kite.")], cts.Token));
        await many.Should().ThrowAsync<OperationCanceledException>();

        using var cts2 = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var one = () => judge.JudgeAsync("c", "A green kite.", cts2.Token);
        await one.Should().ThrowAsync<OperationCanceledException>();

        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10), "cancellation must not wait for the 30 s per-call timeout");
    }

    [Fact]
    public async Task An_empty_caption_is_a_failed_verdict_without_a_call()
    {
        await using var server = new FakeChatServer(_ => FakeChatReply.Answer("Yes"));
        using var judge = new CaptionJudge(Fast(server));

        var verdict = await judge.JudgeAsync("e", "   ").WithTimeout();

        verdict.Outcome.Should().Be(JudgeOutcome.Failed);
        verdict.Reason.Should().Be("empty caption");
        server.RequestCount.Should().Be(0);
    }
}
