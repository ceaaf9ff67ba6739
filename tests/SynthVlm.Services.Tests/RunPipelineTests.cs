using System.Text.Json;
using Google.Protobuf;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Protos.V1;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Streams;
using SynthVlm.Testing;
using FluentAssertions;
using Xunit;
using Xunit.Abstractions;

namespace SynthVlm.Services.Tests;

/// <summary>The cluster and one undisturbed run that the other runs are compared with.</summary>
public sealed class PipelineFixture : IAsyncLifetime
{
    public const int Captions = 200;
    public const int TopK = 50;
    public const ulong Seed = 20261122;

    internal PipelineCluster Cluster { get; private set; } = null!;

    public string Pool { get; private set; } = null!;

    public Run Reference { get; private set; } = null!;

    public TimeSpan ReferenceDuration { get; private set; }

    /// <summary>Pool captions the paper's rule filters drop (computed with the curation library).</summary>
    public int FilteredOut { get; private set; }

    /// <summary>Images the run generates: 2 per caption that reaches generation.</summary>
    public int Generated => (Captions + 1 - FilteredOut) * 2;

    public RunConfig Config(string id) => new()
    {
        Id = id,
        Captions = Pool,
        Variants = 2,
        TopK = TopK,
        Seed = Seed,
        Output = Path.Combine(Cluster.Data.FullName, "out", id),
    };

    public async Task InitializeAsync()
    {
        Cluster = await PipelineCluster.StartAsync();
        Pool = PipelineCluster.WritePool(Cluster.Data.FullName, Captions);
        var curator = new Curation.CaptionCurator(Curation.RuleFilterSettings.Default);
        FilteredOut = JsonDocument.Parse(await File.ReadAllBytesAsync(Pool)).RootElement.EnumerateArray()
            .Select(e => (Id: e.GetProperty("id").GetString()!, Caption: e.GetProperty("caption").GetString()!))
            .Where(e => e.Id.StartsWith("cap-", StringComparison.Ordinal) || e.Id == "../../escape")
            .GroupBy(e => e.Id).Select(g => g.First())
            .Count(e => !curator.Evaluate(e.Caption).Kept);
        var started = DateTime.UtcNow;
        await Cluster.SubmitAsync(Config("reference"));
        Reference = await Cluster.WaitFinishedAsync("reference", TimeSpan.FromMinutes(5));
        ReferenceDuration = DateTime.UtcNow - started;
    }

    public async Task DisposeAsync()
    {
        if (Cluster is not null)
        {
            await Cluster.DisposeAsync();
        }
    }
}

/// <summary>
/// End to end on the tiny models with real processes: ~200 captions (plus junk), 2 variants,
/// 2 replicas each of diffusion, scoring and selection, K = 50. The undisturbed run's dataset is
/// checked against LLaVA's schema and against an independent top-K over every score record; runs
/// with replicas killed (SIGKILL) or Redis killed and restarted from its AOF must produce the same
/// bytes.
/// </summary>
[Collection("pipeline")]
public sealed class RunPipelineTests(PipelineFixture fixture, ITestOutputHelper output) : IClassFixture<PipelineFixture>
{
    private PipelineCluster Cluster => fixture.Cluster;

    [Fact]
    public void The_reference_run_completes_with_k_pairs_and_every_stage_accounted_for()
    {
        var run = fixture.Reference;
        output.WriteLine($"reference run: {run.State} in {fixture.ReferenceDuration.TotalSeconds:0.0} s; {run}");
        run.State.Should().Be(RunState.Completed, run.Reason);
        run.Selected.Should().Be(PipelineFixture.TopK);
        var stages = run.Stages.ToDictionary(s => s.Stage);
        stages["ingest"].Processed.Should().Be(PipelineFixture.Captions + 5);
        // Duplicate id, duplicate caption, control character in the id, empty caption: dropped at
        // ingest; "../../escape" is kept (its file names are sanitised); the rule filters drop
        // what the curation library (tested against Data-Juicer's definitions) says they drop.
        stages["ingest"].Dropped.Should().Be(4);
        stages["curation"].Dropped.Should().Be(fixture.FilteredOut);
        stages["curation"].Dropped.Should().BeLessThan(PipelineFixture.Captions / 5, "the pool is mostly ordinary captions");
        stages["ingest"].Emitted.Should().Be(PipelineFixture.Captions + 5);
        stages["diffusion"].Emitted.Should().Be(fixture.Generated);
        stages["selection"].Processed.Should().Be(fixture.Generated);
        run.Stages.Should().OnlyContain(s => s.Done && s.DeadLettered == 0);
    }

    [Fact]
    public async Task The_dataset_is_llava_json_with_decodable_images_a_one_to_one_manifest_and_exactly_the_top_k_of_all_scores()
    {
        var folder = fixture.Reference.Dataset;
        var llava = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(folder, "llava.json"))).RootElement;
        llava.ValueKind.Should().Be(JsonValueKind.Array);
        llava.GetArrayLength().Should().Be(PipelineFixture.TopK);
        var manifest = (await File.ReadAllLinesAsync(Path.Combine(folder, "manifest.jsonl"))).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        manifest.Should().HaveCount(PipelineFixture.TopK);

        for (var i = 0; i < PipelineFixture.TopK; i++)
        {
            var item = llava[i];
            item.EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo(["id", "image", "conversations"]);
            var id = item.GetProperty("id").GetString()!;
            var image = item.GetProperty("image").GetString()!;
            Path.IsPathRooted(image).Should().BeFalse();
            image.Should().NotContain("..");
            var full = Path.GetFullPath(Path.Combine(folder, image));
            full.Should().StartWith(folder + Path.DirectorySeparatorChar);
            using (var decoded = ImageCodec.Decode(await File.ReadAllBytesAsync(full)))
            {
                (decoded.Width, decoded.Height).Should().Be((32, 32));
            }
            var turns = item.GetProperty("conversations").EnumerateArray().ToList();
            turns.Should().HaveCount(2);
            turns[0].GetProperty("from").GetString().Should().Be("human");
            turns[0].GetProperty("value").GetString().Should().Contain("<image>");
            turns[1].GetProperty("from").GetString().Should().Be("gpt");
            manifest[i].GetProperty("id").GetString().Should().Be(id);
            manifest[i].GetProperty("image").GetString().Should().Be(image);
            turns[1].GetProperty("value").GetString().Should().Be(manifest[i].GetProperty("caption").GetString());
        }

        // Independently: every score record of the run, best variant per caption, top K by
        // weighted score with ties by caption id.
        // (The selection replicas' score logs, read by the test's own frame reader; a redelivered
        // image may be recorded twice: one record per image counts.)
        var scores = ScoreLogFiles.ReadAll(Path.Combine(Cluster.Data.FullName, "blobs", "runs", "reference", "scores"))
            .DistinctBy(f => (f.CaptionIndex, f.Variant))
            .Select(f => ScoredImage.Parser.ParseFrom(f.Payload))
            .ToList();
        scores.Should().HaveCount(fixture.Generated);
        var expected = scores
            .Select(s => (s.Image.CaptionId, s.Image.Variant, Weighted: s.Score.Clip + (0.5 * s.Score.Ssim)))
            .GroupBy(s => s.CaptionId)
            .Select(g => g.OrderByDescending(s => s.Weighted).ThenBy(s => s.Variant).First())
            .OrderByDescending(s => s.Weighted).ThenBy(s => s.CaptionId, StringComparer.Ordinal)
            .Take(PipelineFixture.TopK)
            .ToList();
        manifest.Select(m => (m.GetProperty("id").GetString(), m.GetProperty("variant").GetInt32(), m.GetProperty("weighted").GetDouble()))
            .Should().Equal(expected.Select(e => ((string?)e.CaptionId, e.Variant, e.Weighted)));

        File.Exists(Path.Combine(folder, "report.md")).Should().BeTrue();
        Directory.GetFiles(Path.Combine(folder, "shards"), "*.tar").Should().NotBeEmpty();
    }

    [Fact]
    public async Task Submitting_the_same_run_again_is_idempotent_and_a_different_config_under_its_id_is_refused()
    {
        var again = await Cluster.SubmitAsync(fixture.Config("reference"));
        again.State.Should().Be(RunState.Completed);
        again.Dataset.Should().Be(fixture.Reference.Dataset);

        var different = fixture.Config("reference");
        different.TopK = 10;
        var act = () => Cluster.SubmitAsync(different);
        (await act.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.AlreadyExists);
    }

    [Fact]
    public async Task Killing_replicas_of_every_stage_mid_run_gives_the_same_dataset()
    {
        await Cluster.SubmitAsync(fixture.Config("killed"));
        await WaitForAsync("killed", r => Stage(r, "scoring").Processed >= 60, "60 images scored");
        output.WriteLine($"killing at {await Cluster.GetAsync("killed")}");
        await Cluster.KillAsync("diffusion-0");
        await Cluster.KillAsync("scoring-1");
        await Cluster.KillAsync("selection-0");
        await Cluster.KillAsync("curation-0");
        // The curation replica is also the Runs endpoint: bring it back (as the AppHost restarts
        // a crashed replica); the others' work is taken over by their surviving peers.
        await Cluster.StartReplicaAsync("curation-0");
        var run = await Cluster.WaitFinishedAsync("killed", TimeSpan.FromMinutes(5));
        await Cluster.StartReplicaAsync("diffusion-0");
        await Cluster.StartReplicaAsync("scoring-1");
        await Cluster.StartReplicaAsync("selection-0");

        run.State.Should().Be(RunState.Completed, run.Reason);
        await AssertSameDatasetAsync(run);
    }

    [Fact]
    public async Task Killing_redis_mid_run_and_restarting_it_from_its_aof_gives_the_same_dataset()
    {
        await Cluster.SubmitAsync(fixture.Config("redis-restart"));
        await WaitForAsync("redis-restart", r => Stage(r, "scoring").Processed >= 100, "100 images scored");
        output.WriteLine($"killing redis at {await Cluster.GetAsync("redis-restart")}");
        Cluster.Redis.Kill();
        await Task.Delay(1000);
        await Cluster.Redis.RestartAsync();
        var run = await Cluster.WaitFinishedAsync("redis-restart", TimeSpan.FromMinutes(5));

        run.State.Should().Be(RunState.Completed, run.Reason);
        await AssertSameDatasetAsync(run);
    }

    [Fact]
    public async Task A_poison_image_is_dead_lettered_with_its_reason_and_the_run_completes_without_it()
    {
        // An undecodable file where variant 0 of cap-0002 goes: diffusion sees it exists and
        // does not regenerate it, scoring cannot decode it and dead-letters it at once.
        var config = fixture.Config("poison");
        config.TopK = 300;
        var key = Path.Combine(Cluster.Data.FullName, "blobs", Blobs.BlobKey.GeneratedImage("poison", "cap-0002", 0));
        Directory.CreateDirectory(Path.GetDirectoryName(key)!);
        await File.WriteAllBytesAsync(key, "not an image"u8.ToArray());

        await Cluster.SubmitAsync(config);
        var run = await Cluster.WaitFinishedAsync("poison", TimeSpan.FromMinutes(5));

        run.State.Should().Be(RunState.Completed, run.Reason);
        Stage(run, "scoring").DeadLettered.Should().Be(1);
        run.Reason.Should().Contain("dead-lettered");
        var manifest = (await File.ReadAllLinesAsync(Path.Combine(run.Dataset, "manifest.jsonl"))).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        manifest.Should().HaveCount(fixture.Generated / 2, "every caption keeps one variant; cap-0002 keeps variant 1");
        manifest.Single(m => m.GetProperty("id").GetString() == "cap-0002").GetProperty("variant").GetInt32().Should().Be(1);

        await using var redisMux = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse(Cluster.Redis.ConnectionString)).WithTimeout();
        var redis = redisMux.GetDatabase();
        var dead = await redis.ExecuteAsync("XRANGE", KnownStreams.Dead, "-", "+");
        dead.AsArray().Select(e => e[1].AsArray().Select(f => f.AsString()).ToList())
            .Should().Contain(fields => fields.Contains("poison") && fields.Any(f => f != null && f.Contains("cap-0002", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Cancelling_a_run_stops_every_stage_promptly()
    {
        await Cluster.SubmitAsync(fixture.Config("cancelled"));
        await WaitForAsync("cancelled", r => Stage(r, "diffusion").Processed >= 10, "10 images generated");
        using (var channel = GrpcChannel.ForAddress(Cluster.CurationAddress))
        {
            var cancelled = await new Protos.V1.Runs.RunsClient(channel).CancelAsync(new CancelRunRequest { Id = "cancelled", Reason = "test" });
            cancelled.State.Should().Be(RunState.Cancelled);
        }
        await Task.Delay(2000);
        var settled = await Cluster.GetAsync("cancelled");
        await Task.Delay(3000);
        var later = await Cluster.GetAsync("cancelled");
        later.State.Should().Be(RunState.Cancelled);
        later.Reason.Should().Be("cancelled: test");
        Stage(later, "diffusion").Processed.Should().Be(Stage(settled, "diffusion").Processed, "no image is generated for a cancelled run after it settles");
        Stage(later, "diffusion").Processed.Should().BeLessThan(fixture.Generated);
        File.Exists(Path.Combine(fixture.Config("cancelled").Output, "llava.json")).Should().BeFalse();
    }

    [Fact]
    public async Task Captions_with_their_images_pass_the_raw_pair_minimum_and_only_the_top_fraction_by_clip_similarity_is_generated()
    {
        // An image folder (Hugging Face imagefolder layout) of 20 captions with original images.
        var folder = Path.Combine(Cluster.Data.FullName, "imagefolder");
        Directory.CreateDirectory(folder);
        var lines = new List<string>();
        var captions = new List<(string Id, string Caption, string Path)>();
        for (var i = 0; i < 20; i++)
        {
            var name = $"img{i:D2}.png";
            using (var image = Imaging.RgbImage.Allocate(48, 40))
            {
                var rng = new Random(i);
                rng.NextBytes(image.Pixels);
                await File.WriteAllBytesAsync(Path.Combine(folder, name), ImageCodec.Encode(image, ImageFormat.Png));
            }
            var caption = $"a photo number {i} of a small wooden house near a quiet river with tall trees";
            lines.Add(JsonSerializer.Serialize(new { file_name = name, text = caption }));
            captions.Add((Curation.CaptionNormalizer.Normalize(caption), caption, Path.Combine(folder, name)));
        }
        await File.WriteAllLinesAsync(Path.Combine(folder, "metadata.jsonl"), lines);
        var config = fixture.Config("with-images");
        config.Captions = folder;
        config.TopK = 1000;
        // The tiny CLIP's random weights give cosines of either sign: no minimum, so the top
        // fraction decides (the minimum is checked on its own in Curation tests).
        config.Curation = new CurationSettings { ImageTextMin = -1.0 };

        await Cluster.SubmitAsync(config);
        var run = await Cluster.WaitFinishedAsync("with-images", TimeSpan.FromMinutes(3));
        run.State.Should().Be(RunState.Completed, run.Reason);

        // Independently: the same cosine with the same CLIP, the rule filters, top 40 %.
        using var clip = Clip.ClipModel.Load(Path.Combine(Cluster.Data.FullName, "models", "tiny", "clip"));
        var curator = new Curation.CaptionCurator(Curation.RuleFilterSettings.Default);
        var survivors = new List<(string Caption, double Cosine)>();
        foreach (var (_, caption, path) in captions)
        {
            var pixels = new float[clip.ImageProcessor.TensorLength];
            using (var image = ImageCodec.Decode(await File.ReadAllBytesAsync(path)))
            {
                clip.ImageProcessor.Preprocess(image, pixels);
            }
            var cosine = clip.Encode([caption], pixels, 1).Cosine(0, 0);
            if (curator.Evaluate(caption).Kept)
            {
                survivors.Add((caption, cosine));
            }
        }
        survivors.Should().NotBeEmpty();
        var keep = Math.Max(1, (int)Math.Floor(0.4 * survivors.Count));
        var expected = survivors.OrderByDescending(s => s.Cosine).Take(keep).Select(s => s.Caption).Order(StringComparer.Ordinal).ToList();
        var manifest = (await File.ReadAllLinesAsync(Path.Combine(run.Dataset, "manifest.jsonl"))).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("caption").GetString()).Order(StringComparer.Ordinal).ToList();
        output.WriteLine($"{survivors.Count} survivors, kept {keep}: {string.Join(" | ", expected)}");
        manifest.Should().Equal(expected);
        Stage(run, "curation").Dropped.Should().Be(20 - keep);
    }

    [Fact]
    public async Task Blip_image_text_matching_drops_pairs_below_the_minimum_with_their_score_on_record()
    {
        // Captions with their original images (JSONL pool with an image column). The tiny BLIP's random weights give
        // probabilities around 0.5: the minimum is put at their median so that some pairs pass and some do not.
        var folder = Path.Combine(Cluster.Data.FullName, "itm-pool");
        Directory.CreateDirectory(folder);
        var records = new List<(string Id, string Caption, string Path)>();
        for (var i = 0; i < 12; i++)
        {
            var path = Path.Combine(folder, $"img{i:D2}.png");
            using (var image = Imaging.RgbImage.Allocate(40 + i, 36))
            {
                new Random(100 + i).NextBytes(image.Pixels);
                await File.WriteAllBytesAsync(path, ImageCodec.Encode(image, ImageFormat.Png));
            }
            records.Add(($"itm-{i:D2}", $"a photo number {i} of a red wooden boat on a calm lake under a clear sky", path));
        }
        var missing = Path.Combine(folder, "missing.png");
        records.Add(("itm-missing", "a photo of a green wooden boat on a calm lake under a clear evening sky", missing));
        var pool = Path.Combine(folder, "pool.jsonl");
        await File.WriteAllLinesAsync(pool, records.Select(r => JsonSerializer.Serialize(new { id = r.Id, caption = r.Caption, image = r.Path })));

        // Independently of the service: the same model folder through the library.
        using var blip = Blip.BlipItmModel.Load(PipelineCluster.TinyBlipFolder);
        var probabilities = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (id, caption, path) in records.Where(r => r.Path != missing))
        {
            using var image = ImageCodec.Decode(await File.ReadAllBytesAsync(path));
            probabilities[id] = blip.MatchProbabilities([new Blip.ImageCaptionPair(image, caption)])[0];
        }
        var minimum = probabilities.Values.Order().ElementAt(probabilities.Count / 2);
        var passing = probabilities.Where(p => p.Value >= minimum).Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
        passing.Count.Should().BeInRange(1, probabilities.Count - 1);

        var config = fixture.Config("itm");
        config.Captions = pool;
        config.TopK = 1000;
        // Matching is the filter under test: the raw-pair CLIP step keeps everything.
        config.Curation = new CurationSettings { ImageTextMin = -1.0, ImageTopFraction = 1.0, ImageTextMatching = new BlipMatchingSettings { MinScore = minimum } };
        await Cluster.SubmitAsync(config);
        var run = await Cluster.WaitFinishedAsync("itm", TimeSpan.FromMinutes(3));
        run.State.Should().Be(RunState.Completed, run.Reason);

        var generated = (await File.ReadAllLinesAsync(Path.Combine(run.Dataset, "manifest.jsonl")))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetString()!).ToHashSet(StringComparer.Ordinal);
        generated.Should().BeEquivalentTo(passing);
        Stage(run, "curation").Dropped.Should().Be(records.Count - passing.Count);

        var rejections = Directory.GetFiles(Path.Combine(Cluster.Data.FullName, "blobs", "runs", "itm", "rejected"), "*.json", SearchOption.AllDirectories)
            .Select(f => JsonDocument.Parse(File.ReadAllBytes(f)).RootElement)
            .ToDictionary(r => r.GetProperty("id").GetString()!, StringComparer.Ordinal);
        rejections.Keys.Should().BeEquivalentTo(records.Select(r => r.Id).Where(id => !passing.Contains(id)));
        foreach (var (id, probability) in probabilities.Where(p => !passing.Contains(p.Key)))
        {
            var rejection = rejections[id];
            rejection.GetProperty("code").GetString().Should().Be("image_text_matching_score");
            rejection.GetProperty("stats").GetProperty("image_text_matching_score").GetDouble().Should().BeApproximately(probability, 1e-9);
            rejection.GetProperty("reason").GetString().Should().Contain("below min");
        }
        rejections["itm-missing"].GetProperty("code").GetString().Should().Be("image_unreadable");
        rejections["itm-missing"].GetProperty("reason").GetString().Should().Contain("missing.png");
    }

    [Fact]
    public async Task An_llm_judge_drops_what_it_says_no_to_and_a_failing_endpoint_is_recorded_without_stalling_the_run()
    {
        // A local OpenAI-compatible endpoint: "No." for the frog, HTTP 500 for the juice, "Yes." otherwise.
        using var listener = new System.Net.HttpListener();
        var port = FreePort.Next();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var requests = 0;
        var server = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                System.Net.HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception e) when (e is System.Net.HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }
                Interlocked.Increment(ref requests);
                var body = await new StreamReader(context.Request.InputStream).ReadToEndAsync();
                var answer = body.Contains("frog", StringComparison.Ordinal) ? "No." : "Yes.";
                context.Response.StatusCode = body.Contains("juice", StringComparison.Ordinal) ? 500 : 200;
                var reply = JsonSerializer.SerializeToUtf8Bytes(new { choices = new[] { new { message = new { role = "assistant", content = answer } } } });
                context.Response.ContentType = "application/json";
                await context.Response.OutputStream.WriteAsync(reply);
                context.Response.Close();
            }
        });

        var id = "judged";
        var pool = Path.Combine(Cluster.Data.FullName, id + ".jsonl");
        await File.WriteAllLinesAsync(pool,
        [
            JsonSerializer.Serialize(new { id = "bus", caption = "a red bus parked on a quiet street at night with its lights on" }),
            JsonSerializer.Serialize(new { id = "frog", caption = "a small green frog sitting on a lily pad in a pond at dawn" }),
            JsonSerializer.Serialize(new { id = "juice", caption = "a tall glass of orange juice on a white kitchen table by a window" }),
        ]);
        var config = fixture.Config(id);
        config.Captions = pool;
        config.TopK = 10;
        config.Curation = new CurationSettings { Judge = new JudgeSettings { Endpoint = $"http://127.0.0.1:{port}/v1", Model = "test-judge" } };
        await Cluster.SubmitAsync(config);
        var run = await Cluster.WaitFinishedAsync(id, TimeSpan.FromMinutes(2));
        listener.Stop();
        await server;

        run.State.Should().Be(RunState.Completed, run.Reason);
        var kept = (await File.ReadAllLinesAsync(Path.Combine(run.Dataset, "manifest.jsonl"))).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetString()).Order().ToList();
        kept.Should().Equal("bus", "juice");
        var runFolder = Path.Combine(Cluster.Data.FullName, "blobs", "runs", id);
        var rejection = JsonDocument.Parse(await File.ReadAllBytesAsync(Directory.GetFiles(Path.Combine(runFolder, "rejected"), "*.json", SearchOption.AllDirectories).Single())).RootElement;
        rejection.GetProperty("id").GetString().Should().Be("frog");
        rejection.GetProperty("code").GetString().Should().Be("llm_judge");
        var verdicts = Directory.GetFiles(Path.Combine(runFolder, "judge"), "*.json", SearchOption.AllDirectories)
            .Select(f => JsonDocument.Parse(File.ReadAllBytes(f)).RootElement)
            .ToDictionary(v => v.GetProperty("id").GetString()!, v => v.GetProperty("outcome").GetString());
        verdicts.Should().BeEquivalentTo(new Dictionary<string, string?> { ["bus"] = "yes", ["frog"] = "no", ["juice"] = "failed" });
        requests.Should().BeGreaterThan(3, "the failing caption was retried");
    }

    [Fact]
    public async Task Watch_streams_the_run_as_it_progresses_and_ends_when_it_finishes()
    {
        var id = "watched";
        var pool = Path.Combine(Cluster.Data.FullName, id + ".jsonl");
        await File.WriteAllLinesAsync(pool, Enumerable.Range(0, 12).Select(i => JsonSerializer.Serialize(new { id = $"w{i}", caption = $"a small red boat number {i} on a calm lake under a clear morning sky" })));
        var config = fixture.Config(id);
        config.Captions = pool;
        await Cluster.SubmitAsync(config);

        using var channel = GrpcChannel.ForAddress(Cluster.CurationAddress);
        using var call = new Protos.V1.Runs.RunsClient(channel).Watch(new WatchRunRequest { Id = id, IntervalMs = 100 });
        var updates = new List<Run>();
        await foreach (var update in call.ResponseStream.ReadAllAsync(TestTimeout.Token(TimeSpan.FromMinutes(2))))
        {
            updates.Add(update);
        }

        updates.Should().HaveCountGreaterThan(1, "progress is streamed before the end");
        updates[^1].State.Should().Be(RunState.Completed);
        updates.Take(updates.Count - 1).Should().OnlyContain(u => u.State != RunState.Completed);
        foreach (var stage in new[] { "ingest", "curation", "diffusion", "scoring", "selection" })
        {
            updates.Select(u => Stage(u, stage).Processed).Should().BeInAscendingOrder($"{stage} never goes backwards");
        }
        Stage(updates[^1], "selection").Processed.Should().Be(24);
        updates.Any(u => u.Stages.Any(s => s.Rate > 0)).Should().BeTrue("rates are computed while it runs");

        var unknown = async () =>
        {
            using var missing = new Protos.V1.Runs.RunsClient(channel).Watch(new WatchRunRequest { Id = "no-such-run" });
            await foreach (var _ in missing.ResponseStream.ReadAllAsync())
            {
            }
        };
        (await unknown.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.NotFound);
    }

    [Fact]
    public async Task Near_duplicate_captions_are_dropped_when_the_run_asks_and_the_first_in_pool_order_is_kept()
    {
        var id = "near-dups";
        var pool = Path.Combine(Cluster.Data.FullName, id + ".jsonl");
        const string sentence = "an old wooden fishing boat resting on the pebble beach of a quiet harbour town with gulls flying over the grey water at";
        await File.WriteAllLinesAsync(pool,
        [
            JsonSerializer.Serialize(new { id = "first", caption = sentence + " dawn" }),
            JsonSerializer.Serialize(new { id = "other", caption = "a bowl of tomato soup with fresh basil leaves on a rustic wooden table next to a window" }),
            JsonSerializer.Serialize(new { id = "second", caption = sentence + " dusk" }),
        ]);
        var config = fixture.Config(id);
        config.Captions = pool;
        config.Curation = new CurationSettings { NearDuplicateThreshold = 0.7 };
        await Cluster.SubmitAsync(config);
        var run = await Cluster.WaitFinishedAsync(id, TimeSpan.FromMinutes(2));

        run.State.Should().Be(RunState.Completed, run.Reason);
        (await File.ReadAllLinesAsync(Path.Combine(run.Dataset, "manifest.jsonl"))).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetString()).Order()
            .Should().Equal("first", "other");
        var rejection = JsonDocument.Parse(await File.ReadAllBytesAsync(Directory.GetFiles(Path.Combine(Cluster.Data.FullName, "blobs", "runs", id, "rejected"), "*.json", SearchOption.AllDirectories).Single())).RootElement;
        rejection.GetProperty("id").GetString().Should().Be("second");
        rejection.GetProperty("code").GetString().Should().Be("near_duplicate");
        rejection.GetProperty("reason").GetString().Should().Contain("'first'");
    }

    [Theory]
    [InlineData("[]", "no records")]
    [InlineData("[{\"id\": \"a\", \"caption\": \"   \"}, {\"id\": \"b\", \"caption\": \"\"}]", "dropped")]
    public async Task An_empty_or_entirely_filtered_pool_ends_with_an_empty_dataset_and_a_report_that_says_why(string pool, string why)
    {
        var id = "empty-" + Guid.NewGuid().ToString("N")[..6];
        var path = Path.Combine(Cluster.Data.FullName, id + ".json");
        await File.WriteAllTextAsync(path, pool);
        var config = fixture.Config(id);
        config.Captions = path;
        await Cluster.SubmitAsync(config);
        var run = await Cluster.WaitFinishedAsync(id, TimeSpan.FromMinutes(1));

        run.State.Should().Be(RunState.Completed, run.Reason);
        run.Selected.Should().Be(0);
        run.Reason.Should().Contain(why);
        (await File.ReadAllTextAsync(Path.Combine(run.Dataset, "llava.json"))).Trim().Should().Be("[]");
        (await File.ReadAllTextAsync(Path.Combine(run.Dataset, "report.md"))).Should().Contain(why);
    }

    [Theory]
    [InlineData("variants", 0, 99)]
    [InlineData("lambda", 0, -1)]
    [InlineData("id", 0, 0)]
    public async Task Out_of_range_fields_are_refused_with_invalid_argument_naming_the_field(string field, int unused, double value)
    {
        _ = unused;
        var config = fixture.Config("bad-" + field);
        switch (field)
        {
            case "variants": config.Variants = (int)value; break;
            case "lambda": config.Lambda = value; break;
            case "id": config.Id = "../../etc"; break;
        }
        var act = () => Cluster.SubmitAsync(config);
        var status = (await act.Should().ThrowAsync<RpcException>()).Which.Status;
        status.StatusCode.Should().Be(StatusCode.InvalidArgument);
        status.Detail.Should().Contain(field);
    }

    private async Task AssertSameDatasetAsync(Run run)
    {
        var reference = fixture.Reference.Dataset;
        foreach (var file in new[] { "manifest.jsonl", "llava.json" })
        {
            (await File.ReadAllBytesAsync(Path.Combine(run.Dataset, file))).Should().Equal(await File.ReadAllBytesAsync(Path.Combine(reference, file)), file + " is byte-identical to the undisturbed run's");
        }
        var images = Directory.GetFiles(Path.Combine(reference, "images"), "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(reference, f)).Order(StringComparer.Ordinal).ToList();
        Directory.GetFiles(Path.Combine(run.Dataset, "images"), "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(run.Dataset, f)).Order(StringComparer.Ordinal)
            .Should().Equal(images);
        foreach (var image in images)
        {
            (await File.ReadAllBytesAsync(Path.Combine(run.Dataset, image))).Should().Equal(await File.ReadAllBytesAsync(Path.Combine(reference, image)), image);
        }
    }

    private async Task WaitForAsync(string id, Func<Run, bool> condition, string what)
    {
        await TestTimeout.Until(async () =>
        {
            var run = await Cluster.GetAsync(id);
            run.State.Should().NotBe(RunState.Completed, $"the test wanted to act before the run completed ({what})");
            return condition(run);
        }, TimeSpan.FromMinutes(3), what);
    }

    private static StageProgress Stage(Run run, string name) => run.Stages.Single(s => s.Stage == name);
}
