using System.Text.Json;
using SynthVlm.Captions;
using SynthVlm.ChatEndpoints;
using SynthVlm.Recaptioning.Prompts;
using SynthVlm.Recaptioning.Sources;
using SynthVlm.Testing;

namespace SynthVlm.Recaptioning.Tests.Recaption;

public sealed class RecaptionJobTests
{
    private static RecaptionJobOptions Options(string output, int shardSize = 0, int concurrency = 2) => new()
    {
        OutputDirectory = output,
        ShardSize = shardSize,
        Concurrency = concurrency,
        Prompt = CaptionPrompt.Brief,
        Length = new LengthControl(64, 20, false),
        Seed = 7,
    };

    /// <summary>Every pool record read back with the CaptionPoolReader that curation uses, shard by shard.</summary>
    private static List<PoolCaption> ReadPool(IEnumerable<string> shards)
    {
        var all = new List<PoolCaption>();
        foreach (var shard in shards)
        {
            using var reader = CaptionPoolReader.Open(shard);
            reader.Format.Should().Be(CaptionPoolFormat.JsonLines);
            var records = reader.Read().ToList();
            records.Should().AllBeOfType<PoolCaption>("the pool must be read as it is: {0}", string.Join("; ", records.OfType<PoolReject>().Select(r => r.Reason)));
            all.AddRange(records.Cast<PoolCaption>());
        }
        return all;
    }

    private static List<JsonElement> ReadLines(string path) =>
        [.. File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement.Clone())];

    private static string MakeFolder(TempFolder temp, int count)
    {
        var images = temp.Combine("images");
        for (var i = 0; i < count; i++)
        {
            TinyImages.Write(Path.Combine(images, $"img{i:D2}.png"), 10 + i);
        }
        return images;
    }

    [Fact]
    public async Task A_folder_becomes_a_sharded_pool_that_the_pool_reader_reads_with_rejects_for_corrupt_and_huge_images()
    {
        using var temp = new TempFolder();
        var images = MakeFolder(temp, 5);
        File.WriteAllBytes(Path.Combine(images, "img02b.png"), TinyImages.Truncated(3));
        TinyImages.Write(Path.Combine(images, "img03b.png"), 4);
        File.WriteAllBytes(Path.Combine(images, "img03b.png"), SynthVlm.Recaptioning.Tests.Recaption.TinyImages.Encoded(4, width: 64, height: 64));
        var captioner = ScriptedCaptioner.Constant(ScriptedCaptioner.Describe);
        var options = Options(temp.Combine("out"), shardSize: 2) with { MaxPixels = 1000 };

        var summary = await new RecaptionJob(captioner, options).RunAsync(ImageSources.Open(images), cancellationToken: TestTimeout.Token());

        summary.Captioned.Should().Be(5);
        summary.Rejected[RejectKinds.CorruptImage].Should().Be(1);
        summary.Rejected[RejectKinds.HugeImage].Should().Be(1);
        summary.Shards.Select(Path.GetFileName).Should().Equal("pool-00000.jsonl", "pool-00001.jsonl", "pool-00002.jsonl");
        summary.SourceKind.Should().Be("folder");
        captioner.Calls.Should().Be(5, "rejected images are never sent");

        var pool = ReadPool(summary.Shards);
        pool.Select(p => p.Id).Should().Equal("img00", "img01", "img02", "img03", "img04");
        pool.Select(p => p.Caption).Should().Equal(Enumerable.Range(10, 5).Select(s => $"A tile of shade {s}."));
        pool.Should().OnlyContain(p => p.ImagePath != null && File.Exists(p.ImagePath));

        var line = ReadLines(summary.Shards[0])[0];
        line.GetProperty("captioner").GetString().Should().Be("scripted");
        line.GetProperty("prompt").GetProperty("name").GetString().Should().Be("brief");
        line.GetProperty("prompt").GetProperty("version").GetInt32().Should().Be(1);
        line.GetProperty("prompt").GetProperty("text").GetString().Should().EndWith("Use at most 20 words.");
        line.GetProperty("sampling").GetProperty("seed").GetInt32().Should().Be(7);
        line.GetProperty("sampling").GetProperty("max_tokens").GetInt32().Should().Be(64);
        line.GetProperty("original_caption").ValueKind.Should().Be(JsonValueKind.Null);
        captioner.Requests.Should().OnlyContain(r => r.MaxTokens == 64 && r.Seed == 7 && r.Temperature == 0);

        var rejects = ReadLines(summary.RejectsFile);
        rejects.Select(r => (r.GetProperty("id").GetString(), r.GetProperty("kind").GetString())).Should().Equal(
            ("img02b", RejectKinds.CorruptImage), ("img03b", RejectKinds.HugeImage));
        rejects[1].GetProperty("reason").GetString().Should().Contain("MaxPixels");
        File.Exists(Path.Combine(temp.Combine("out"), "pool.summary.json")).Should().BeTrue();
        Directory.Exists(Path.Combine(temp.Combine("out"), "pool.spool")).Should().BeFalse();
    }

    [Fact]
    public async Task WebDataset_and_imagefolder_items_keep_their_original_captions_in_the_pool()
    {
        using var temp = new TempFolder();
        TinyImages.WriteTar(temp.Combine("d-0.tar"),
        [
            ("a.png", TinyImages.Encoded(40)),
            ("a.txt", TinyImages.Text("alt a")),
            ("b.png", TinyImages.Truncated(41)),
            ("c.png", TinyImages.Encoded(42)),
        ]);
        var captioner = ScriptedCaptioner.Constant(ScriptedCaptioner.Describe);

        var summary = await new RecaptionJob(captioner, Options(temp.Combine("out"))).RunAsync(ImageSources.Open(temp.Combine("d-0.tar")), cancellationToken: TestTimeout.Token());

        var pool = ReadPool(summary.Shards);
        pool.Select(p => (p.Id, p.Caption, p.ImagePath)).Should().Equal(("a", "A tile of shade 40.", null), ("c", "A tile of shade 42.", null));
        ReadLines(summary.Shards[0])[0].GetProperty("original_caption").GetString().Should().Be("alt a");
        ReadLines(summary.Shards[0])[0].GetProperty("source").GetString().Should().Be("d-0.tar:a.png");
        summary.Rejected[RejectKinds.CorruptImage].Should().Be(1);
        Directory.Exists(Path.Combine(temp.Combine("out"), "pool.spool")).Should().BeFalse("spooled images are removed");

        var extracted = await new RecaptionJob(captioner, Options(temp.Combine("out-x")) with { ExtractImagesDirectory = temp.Combine("x") })
            .RunAsync(ImageSources.Open(temp.Combine("d-0.tar")), cancellationToken: TestTimeout.Token());
        ReadPool(extracted.Shards).Select(p => p.ImagePath).Should().Equal(temp.Combine("x", "a.png"), temp.Combine("x", "c.png"));
        File.ReadAllBytes(temp.Combine("x", "a.png")).Should().Equal(TinyImages.Encoded(40));
        File.Exists(temp.Combine("x", "b.png")).Should().BeFalse("a corrupt image is recorded, not extracted");

        var folder = temp.Combine("hf");
        TinyImages.Write(Path.Combine(folder, "x.png"), 50);
        File.WriteAllText(Path.Combine(folder, "metadata.jsonl"), """{"file_name": "x.png", "text": "old caption"}""" + "\n");
        var second = await new RecaptionJob(captioner, Options(temp.Combine("out2"))).RunAsync(ImageSources.Open(folder), cancellationToken: TestTimeout.Token());
        second.SourceKind.Should().Be("imagefolder");
        ReadLines(second.Shards[0]).Single().GetProperty("original_caption").GetString().Should().Be("old caption");
        ReadPool(second.Shards).Single().Id.Should().Be("x");
    }

    [Fact]
    public async Task An_endpoint_that_returns_garbage_times_out_errors_or_answers_nothing_is_recorded_and_the_batch_goes_on()
    {
        using var temp = new TempFolder();
        var images = MakeFolder(temp, 6);
        string Url(int i) => "data:image/png;base64," + Convert.ToBase64String(File.ReadAllBytes(Path.Combine(images, $"img{i:D2}.png")));
        var behaviour = new Dictionary<string, FakeChatReply>
        {
            [Url(1)] = new() { RawBody = "<html>proxy error</html>" },
            [Url(2)] = new() { Hang = true },
            [Url(3)] = FakeChatReply.Answer("   "),
            [Url(4)] = FakeChatReply.Error(503, "overloaded"),
        };
        await using var server = new FakeChatServer(request =>
            behaviour.TryGetValue(request.Messages[^1].ImageUrls[0], out var reply) ? reply : FakeChatReply.Answer(" A caption from the endpoint. "));
        using var client = new OpenAiChatClient(new OpenAiChatOptions
        {
            Endpoint = server.BaseUri,
            Model = "qwen2-vl-fake",
            MaxRetries = 1,
            Timeout = TimeSpan.FromMilliseconds(300),
            InitialBackoff = TimeSpan.Zero,
            MaxBackoff = TimeSpan.Zero,
        });

        var summary = await new RecaptionJob(client, Options(temp.Combine("out"), concurrency: 3)).RunAsync(ImageSources.Open(images), cancellationToken: TestTimeout.Token());

        ReadPool(summary.Shards).Select(p => (p.Id, p.Caption)).Should().Equal(
            ("img00", "A caption from the endpoint."), ("img05", "A caption from the endpoint."));
        var rejects = ReadLines(summary.RejectsFile);
        rejects.Select(r => (r.GetProperty("id").GetString(), r.GetProperty("kind").GetString())).Should().Equal(
            ("img01", RejectKinds.CaptionerFailure), ("img02", RejectKinds.CaptionerFailure), ("img03", RejectKinds.EmptyCaption), ("img04", RejectKinds.CaptionerFailure));
        rejects[0].GetProperty("reason").GetString().Should().Contain("malformed").And.Contain("2 attempts");
        rejects[2].GetProperty("reply").GetString().Should().Be("   ");
        server.Requests.Count(r => r.Messages[^1].ImageUrls[0] == Url(1)).Should().Be(2, "garbage is retried once");
        summary.Rejected[RejectKinds.CaptionerFailure].Should().Be(3);
        ReadLines(summary.Shards[0])[0].GetProperty("captioner").GetString().Should().Be("qwen2-vl-fake");
    }

    [Fact]
    public async Task A_cancelled_run_with_a_torn_last_line_resumes_to_the_same_pool_without_duplicates()
    {
        using var temp = new TempFolder();
        var images = MakeFolder(temp, 9);
        var reference = await new RecaptionJob(ScriptedCaptioner.Constant(ScriptedCaptioner.Describe), Options(temp.Combine("reference"), shardSize: 4))
            .RunAsync(ImageSources.Open(images), cancellationToken: TestTimeout.Token());

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestTimeout.Token());
        var interrupted = new ScriptedCaptioner(async (bytes, number) =>
        {
            if (number == 6)
            {
                await stop.CancelAsync();
                stop.Token.ThrowIfCancellationRequested();
            }
            return ScriptedCaptioner.Describe(bytes);
        });
        var output = temp.Combine("out");
        var act = () => new RecaptionJob(interrupted, Options(output, shardSize: 4, concurrency: 1)).RunAsync(ImageSources.Open(images), cancellationToken: stop.Token);
        await act.Should().ThrowAsync<OperationCanceledException>();
        var written = Directory.GetFiles(output, "pool-*.jsonl").Order().ToList();
        written.Select(Path.GetFileName).Should().Equal("pool-00000.jsonl", "pool-00001.jsonl");
        File.ReadAllLines(written[1]).Should().HaveCount(1);
        // A writer killed mid-line leaves a torn line behind.
        File.AppendAllText(written[1], """{"id": "img05", "capt""");

        var resumed = ScriptedCaptioner.Constant(ScriptedCaptioner.Describe);
        var summary = await new RecaptionJob(resumed, Options(output, shardSize: 4)).RunAsync(ImageSources.Open(images), cancellationToken: TestTimeout.Token());

        resumed.Calls.Should().Be(4, "only the items not yet written are captioned again");
        summary.Resumed.Should().Be(5);
        summary.TornBytesCut.Should().BeGreaterThan(0);
        summary.PoolRecords.Should().Be(9);
        summary.Shards.Select(Path.GetFileName).Should().Equal(reference.Shards.Select(Path.GetFileName));
        for (var i = 0; i < reference.Shards.Count; i++)
        {
            File.ReadAllLines(summary.Shards[i]).Should().Equal(File.ReadAllLines(reference.Shards[i]), "shard {0} is the same as an uninterrupted run's", i);
        }

        var again = ScriptedCaptioner.Constant(ScriptedCaptioner.Describe);
        var nothingLeft = await new RecaptionJob(again, Options(output, shardSize: 4)).RunAsync(ImageSources.Open(images), cancellationToken: TestTimeout.Token());
        again.Calls.Should().Be(0);
        nothingLeft.Resumed.Should().Be(9);
        ReadPool(nothingLeft.Shards).Select(p => p.Id).Should().OnlyHaveUniqueItems().And.HaveCount(9);
    }

    [Fact]
    public async Task Duplicate_ids_are_recorded_once_and_captioner_failures_are_tried_again_on_resume()
    {
        using var temp = new TempFolder();
        TinyImages.Write(temp.Combine("i", "a.png"), 60);
        TinyImages.Write(temp.Combine("i", "b.png"), 61);
        var pool = temp.Combine("in.jsonl");
        File.WriteAllLines(pool,
        [
            """{"id": "one", "caption": "first", "image": "i/a.png"}""",
            """{"id": "two", "caption": "second", "image": "i/b.png"}""",
            """{"id": "one", "caption": "again", "image": "i/b.png"}""",
        ]);
        var failing = new ScriptedCaptioner((bytes, _) => ScriptedCaptioner.Describe(bytes).Contains("61", StringComparison.Ordinal)
            ? throw new ChatModelException("endpoint down")
            : Task.FromResult(ScriptedCaptioner.Describe(bytes)));
        var output = temp.Combine("out");

        var first = await new RecaptionJob(failing, Options(output)).RunAsync(ImageSources.Open(pool), cancellationToken: TestTimeout.Token());
        first.Captioned.Should().Be(1);
        first.Rejected[RejectKinds.DuplicateId].Should().Be(1);
        first.Rejected[RejectKinds.CaptionerFailure].Should().Be(1);

        var healthy = ScriptedCaptioner.Constant(ScriptedCaptioner.Describe);
        var second = await new RecaptionJob(healthy, Options(output)).RunAsync(ImageSources.Open(pool), cancellationToken: TestTimeout.Token());
        healthy.Calls.Should().Be(1, "only the failed item is asked again");
        second.Rejected.Values.Sum().Should().Be(0, "the duplicate was recorded by the first run");
        second.Resumed.Should().Be(2);

        ReadPool(second.Shards).Select(p => p.Id).Should().Equal("one", "two");
        ReadLines(second.Shards[0])[0].GetProperty("original_caption").GetString().Should().Be("first");
        ReadLines(second.RejectsFile).Select(r => r.GetProperty("kind").GetString()).Should().Equal(RejectKinds.CaptionerFailure, RejectKinds.DuplicateId);
    }

    [Fact]
    public async Task Work_never_runs_further_ahead_than_the_window_while_an_early_item_is_slow()
    {
        using var temp = new TempFolder();
        var images = MakeFolder(temp, 12);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = 0;
        var captioner = new ScriptedCaptioner(async (bytes, _) =>
        {
            Interlocked.Increment(ref started);
            var caption = ScriptedCaptioner.Describe(bytes);
            if (caption.Contains("shade 10.", StringComparison.Ordinal))
            {
                await release.Task;
            }
            return caption;
        });
        var progress = new List<RecaptionProgress>();
        var job = new RecaptionJob(captioner, Options(temp.Combine("out"), concurrency: 2) with { Window = 4 })
            .RunAsync(ImageSources.Open(images), new SynchronousProgress(progress), TestTimeout.Token());

        await TestTimeout.Until(() => Volatile.Read(ref started) >= 4, what: "the window to fill");
        // Give any item beyond the window the chance to start, were the bound broken.
        await Task.Delay(200);
        Volatile.Read(ref started).Should().Be(4, "items 1-3 finish but wait behind item 0, and no item starts beyond the window of 4");
        release.SetResult();
        var summary = await job.WithTimeout();

        summary.Captioned.Should().Be(12);
        ReadPool(summary.Shards).Select(p => p.Id).Should().Equal(Enumerable.Range(0, 12).Select(i => $"img{i:D2}"));
        progress.Select(p => p.Written).Should().BeInAscendingOrder().And.Contain(12);
    }

    [Fact]
    public async Task An_output_that_is_not_a_recaption_pool_is_refused_with_its_line()
    {
        using var temp = new TempFolder();
        var images = MakeFolder(temp, 1);
        var output = temp.Combine("out");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "pool.jsonl"), "{\"id\": \"x\"}\nnot json\n");

        var act = () => new RecaptionJob(ScriptedCaptioner.Constant(_ => "c"), Options(output)).RunAsync(ImageSources.Open(images), cancellationToken: TestTimeout.Token());

        (await act.Should().ThrowAsync<RecaptionException>()).WithMessage("*pool.jsonl:2*not json*");
        var sharded = () => new RecaptionJob(ScriptedCaptioner.Constant(_ => "c"), Options(output, shardSize: 5)).RunAsync(ImageSources.Open(images), cancellationToken: TestTimeout.Token());
        (await sharded.Should().ThrowAsync<RecaptionException>()).WithMessage("*same shard setting*");
    }

    [Fact]
    public void Options_name_the_unusable_setting()
    {
        var act = () => new RecaptionJob(ScriptedCaptioner.Constant(_ => "c"), new RecaptionJobOptions { OutputDirectory = "/tmp/x", Concurrency = 4, Window = 2 });
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*Window*Concurrency*");
        var noOut = () => new RecaptionJob(ScriptedCaptioner.Constant(_ => "c"), new RecaptionJobOptions());
        noOut.Should().Throw<ArgumentException>().WithMessage("*OutputDirectory*");
    }

    private sealed class SynchronousProgress(List<RecaptionProgress> seen) : IProgress<RecaptionProgress>
    {
        public void Report(RecaptionProgress value)
        {
            lock (seen)
            {
                seen.Add(value);
            }
        }
    }
}
