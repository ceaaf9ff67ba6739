using System.Text.Json;
using FluentAssertions;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Captions;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Protos.V1;
using SynthVlm.Testing;
using PoolCaption = SynthVlm.Captions.PoolCaption;
using Xunit;

namespace SynthVlm.Services.Tests;

/// <summary>
/// The RecaptionService as a real process: the tiny in-process LLaVA captions a folder of tiny
/// images through Submit/Watch and the pool reads back with CaptionPoolReader; bad requests name
/// the field (INVALID_ARGUMENT), a busy output folder is FAILED_PRECONDITION, unknown jobs
/// NOT_FOUND; and a run submitted with recaption (images, no captions) goes images → recaption →
/// curation → diffusion → scoring → selection → dataset on the tiny models.
/// </summary>
public sealed class RecaptionServiceTests() : StageServiceTest(KnownServices.Recaption, "synthvlm-recaption-")
{
    private const int ImageCount = 6;
    private static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(3);

    private static string TinyModel => Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Vlm.Tests", "Fixtures", "tiny-llava-hf");

    private string Images => Path.Combine(Data.FullName, "images");

    protected override Task PrepareAsync()
    {
        WriteImages(Images);
        return Task.CompletedTask;
    }

    /// <summary>Six small PNGs of different sizes and shades: p0 … p5.</summary>
    internal static void WriteImages(string folder)
    {
        Directory.CreateDirectory(folder);
        for (var i = 0; i < ImageCount; i++)
        {
            using var image = RgbImage.Allocate(8 + i, 6 + i);
            var px = image.Pixels;
            for (var p = 0; p < px.Length; p++)
            {
                px[p] = (byte)((p * (i + 5)) + (40 * i));
            }
            ImageCodec.EncodeFile(image, Path.Combine(folder, $"p{i}.png"));
        }
    }

    /// <summary>The tiny LLaVA's 128-token context does not fit the presets: a short prompt and few new tokens.</summary>
    internal static CaptionerSettings TinyPrompt(string? modelDir = null) => new() { ModelDir = modelDir ?? "", PromptText = "Describe the image.", MaxTokens = 6 };

    private async Task<Recaption.RecaptionClient> StartAsync(Dictionary<string, string?>? extra = null) =>
        new(GrpcChannel.ForAddress(await StartServiceAsync(extra)));

    private static async Task<List<RecaptionJobInfo>> WatchAsync(Recaption.RecaptionClient client, string id)
    {
        var seen = new List<RecaptionJobInfo>();
        using var timeout = new CancellationTokenSource(JobTimeout);
        using var call = client.Watch(new WatchRecaptionRequest { JobId = id }, cancellationToken: timeout.Token);
        while (await call.ResponseStream.MoveNext(timeout.Token))
        {
            seen.Add(call.ResponseStream.Current);
        }
        return seen;
    }

    [Fact]
    public async Task The_tiny_in_process_captioner_writes_a_pool_that_the_caption_pool_reader_reads_and_the_same_folder_again_resumes()
    {
        var client = await StartAsync();

        var request = new SubmitRecaptionRequest { Images = "images", OutputDir = "recaptions/tiny", Captioner = TinyPrompt(TinyModel), ShardSize = 0 };
        var job = await client.SubmitAsync(request).ResponseAsync.WithTimeout();
        job.State.Should().Be(RecaptionState.Queued);
        var final = (await WatchAsync(client, job.Id))[^1];

        final.State.Should().Be(RecaptionState.Succeeded, final.Message);
        final.Captioner.Should().Be("tiny-llava-hf");
        final.OutputDir.Should().Be(Path.Combine(Data.FullName, "recaptions", "tiny"));
        (final.Captioned + final.Rejected).Should().Be(ImageCount, "every image is captioned or recorded (the tiny model may answer nothing)");
        final.Shards.Should().Equal(Path.Combine(final.OutputDir, "pool.jsonl"));
        var summary = JsonDocument.Parse(await File.ReadAllBytesAsync(final.SummaryPath)).RootElement;
        summary.GetProperty("captioned").GetInt64().Should().Be(final.Captioned);
        summary.GetProperty("prompt").GetString().Should().Be("custom@1");
        var pool = ReadPool(final.Shards[0]);
        pool.Should().HaveCount((int)final.Captioned);
        pool.Should().OnlyContain(p => p.Caption.Length > 0 && p.ImagePath != null && File.Exists(p.ImagePath));
        pool.Select(p => p.Id).Should().BeSubsetOf(Enumerable.Range(0, ImageCount).Select(i => $"p{i}"));

        // The same output folder again: everything is settled, nothing is captioned twice.
        var again = await client.SubmitAsync(request).ResponseAsync.WithTimeout();
        var second = (await WatchAsync(client, again.Id))[^1];
        second.State.Should().Be(RecaptionState.Succeeded, second.Message);
        second.Captioned.Should().Be(0);
        second.Resumed.Should().Be(final.Captioned, "captions already in the pool are skipped");
        ReadPool(final.Shards[0]).Select(p => p.Id).Should().Equal(pool.Select(p => p.Id));
        (await client.ListAsync(new ListRecaptionRequest()).ResponseAsync.WithTimeout()).Jobs.Select(j => j.Id).Should().Equal(job.Id, again.Id);
    }

    [Fact]
    public async Task Bad_requests_are_INVALID_ARGUMENT_naming_the_field_a_busy_folder_FAILED_PRECONDITION_and_unknown_jobs_NOT_FOUND()
    {
        var client = await StartAsync();

        async Task<string> RefusedAsync(SubmitRecaptionRequest request, StatusCode code = StatusCode.InvalidArgument)
        {
            var e = await FluentActions.Awaiting(() => client.SubmitAsync(request).ResponseAsync).Should().ThrowAsync<RpcException>();
            e.Which.StatusCode.Should().Be(code, e.Which.Status.Detail);
            return e.Which.Status.Detail;
        }

        (await RefusedAsync(new SubmitRecaptionRequest())).Should().StartWith("images:");
        (await RefusedAsync(new SubmitRecaptionRequest { Images = "nowhere" })).Should().StartWith("images:").And.Contain("does not exist");
        (await RefusedAsync(new SubmitRecaptionRequest { Images = "../outside" })).Should().StartWith("images:").And.Contain("leaves the data folder");
        (await RefusedAsync(new SubmitRecaptionRequest { Images = "images", SourceKind = "zip" })).Should().StartWith("source_kind:").And.Contain("'zip'");
        (await RefusedAsync(new SubmitRecaptionRequest { Images = "images", Captioner = new CaptionerSettings { ModelDir = TinyModel, Endpoint = "http://127.0.0.1:1/v1", EndpointModel = "m" } })).Should().StartWith("captioner:");
        (await RefusedAsync(new SubmitRecaptionRequest { Images = "images", Captioner = new CaptionerSettings { Endpoint = "ftp://x" } })).Should().StartWith("captioner.endpoint:");
        (await RefusedAsync(new SubmitRecaptionRequest { Images = "images", Captioner = new CaptionerSettings { Endpoint = "http://127.0.0.1:1/v1" } })).Should().StartWith("captioner.endpoint_model:");
        (await RefusedAsync(new SubmitRecaptionRequest { Images = "images", Captioner = new CaptionerSettings { ModelDir = TinyModel, Prompt = "poetic" } })).Should().StartWith("captioner.prompt:").And.Contain("brief");
        (await RefusedAsync(new SubmitRecaptionRequest { Images = "images", Captioner = new CaptionerSettings { ModelDir = TinyModel, MaxTokens = 0 } })).Should().StartWith("captioner.max_tokens:");
        (await RefusedAsync(new SubmitRecaptionRequest { Images = "images", Captioner = new CaptionerSettings { ModelDir = "no-model" } })).Should().StartWith("captioner.model_dir:");
        (await RefusedAsync(new SubmitRecaptionRequest { Images = "images", Captioner = TinyPrompt(TinyModel), Concurrency = 0 })).Should().StartWith("concurrency:");
        (await RefusedAsync(new SubmitRecaptionRequest { Images = "images", Captioner = TinyPrompt(TinyModel), ShardSize = -1 })).Should().StartWith("shard_size:");
        (await RefusedAsync(new SubmitRecaptionRequest { Images = "images", Captioner = TinyPrompt(TinyModel), OutputDir = "../out" })).Should().StartWith("output_dir:");

        // A captioner that never answers keeps the first job running: the same folder is busy.
        await using var hanging = new FakeChatServer(_ => new FakeChatReply { Hang = true });
        var endpoint = new CaptionerSettings { Endpoint = hanging.BaseUri.ToString(), EndpointModel = "slow-vl" };
        var busy = await client.SubmitAsync(new SubmitRecaptionRequest { Images = "images", OutputDir = "recaptions/busy", Captioner = endpoint }).ResponseAsync.WithTimeout();
        (await RefusedAsync(new SubmitRecaptionRequest { Images = "images", OutputDir = "recaptions/busy", Captioner = endpoint }, StatusCode.FailedPrecondition))
            .Should().StartWith("output_dir:").And.Contain(busy.Id);
        var cancelled = await client.CancelAsync(new CancelRecaptionRequest { JobId = busy.Id }).ResponseAsync.WithTimeout();
        cancelled.Id.Should().Be(busy.Id);
        (await WatchAsync(client, busy.Id))[^1].State.Should().Be(RecaptionState.Cancelled);

        var watch = await FluentActions.Awaiting(() => WatchAsync(client, "recap-nope")).Should().ThrowAsync<RpcException>();
        watch.Which.StatusCode.Should().Be(StatusCode.NotFound);
        watch.Which.Status.Detail.Should().Contain("recap-nope");
        var cancel = await FluentActions.Awaiting(() => client.CancelAsync(new CancelRecaptionRequest { JobId = "recap-nope" }).ResponseAsync).Should().ThrowAsync<RpcException>();
        cancel.Which.StatusCode.Should().Be(StatusCode.NotFound);
    }

    internal static List<PoolCaption> ReadPool(string path)
    {
        using var reader = CaptionPoolReader.Open(path);
        var records = reader.Read().ToList();
        records.Should().AllBeOfType<PoolCaption>();
        return [.. records.Cast<PoolCaption>()];
    }
}

/// <summary>
/// A run that starts from images, end to end with real processes on the tiny models: Runs.Submit
/// with recaption and no captions announces the run on synthvlm:images; RecaptionService writes
/// the run's pool with the in-process tiny LLaVA; curation ingests it; diffusion, scoring and
/// selection make the dataset.
/// </summary>
public sealed class RecaptionRunTests
{
    [Fact]
    public async Task A_run_submitted_with_images_is_recaptioned_then_curated_generated_scored_and_selected_into_a_dataset()
    {
        await using var cluster = await PipelineCluster.StartAsync(diffusion: 1, scoring: 1, selection: 1, recaption: 1);
        var images = Path.Combine(cluster.Data.FullName, "images");
        RecaptionServiceTests.WriteImages(images);

        var config = new RunConfig
        {
            Id = "from-images",
            Recaption = new RunRecaption { Images = images, Captioner = RecaptionServiceTests.TinyPrompt() },
            Curation = new CurationSettings { SkipRuleFilters = true, SkipImageText = true, KeepDuplicates = true },
            Variants = 1,
            Seed = 7,
            Output = Path.Combine(cluster.Data.FullName, "out", "from-images"),
        };
        var submitted = await cluster.SubmitAsync(config);
        submitted.Config.Captions.Should().BeEmpty("the pool does not exist until the images are recaptioned");
        submitted.Config.Recaption.Images.Should().Be(images);

        var run = await cluster.WaitFinishedAsync("from-images", TimeSpan.FromMinutes(5));

        var pool = RecaptionServiceTests.ReadPool(Path.Combine(cluster.Data.FullName, "blobs", "runs", "from-images", "recaption", "pool.jsonl"));
        var rejects = Path.Combine(cluster.Data.FullName, "blobs", "runs", "from-images", "recaption", "pool.rejects.jsonl");
        pool.Should().NotBeEmpty($"the tiny model captions at least one of the images (rejects: {(File.Exists(rejects) ? File.ReadAllText(rejects) : "none")})\n{cluster.Logs()}");
        run.State.Should().Be(RunState.Completed, $"{run.Reason}\n{cluster.Logs()}");
        run.Selected.Should().Be(pool.Count, "no filter is on and every caption is kept");
        var stages = run.Stages.ToDictionary(s => s.Stage);
        stages["ingest"].Processed.Should().Be(pool.Count);
        run.Stages.Should().OnlyContain(s => s.Done && s.DeadLettered == 0);
        var llava = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(run.Dataset, "llava.json"))).RootElement;
        llava.EnumerateArray().Select(e => e.GetProperty("conversations")[1].GetProperty("value").GetString())
            .Should().BeEquivalentTo(pool.Select(p => p.Caption), "the dataset's captions are the recaptioned ones");

        await using var mux = await Streams.RedisConnections.ConnectAsync(Streams.RedisConnectionOptions.Parse(cluster.Redis.ConnectionString)).WithTimeout();
        var entries = await mux.GetDatabase().StreamRangeAsync(KnownStreams.Images);
        var entry = entries.Should().ContainSingle("one entry per run").Subject.Values.ToDictionary(v => v.Name.ToString(), v => v.Value);
        entry[KnownStreamFields.Kind].ToString().Should().Be("RecaptionRequest");
        if (run.TraceId.Length > 0)
        {
            entry[KnownStreamFields.TraceParent].ToString().Should().StartWith($"00-{run.TraceId}-", "the entry continues the run's trace");
        }
    }
}
