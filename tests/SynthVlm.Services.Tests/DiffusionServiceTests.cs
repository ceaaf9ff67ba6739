using FluentAssertions;
using Google.Protobuf;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Protos.V1;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Streams;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Services.Tests;

/// <summary>
/// The DiffusionService as a real process on the tiny SDXL base + refiner it writes into its
/// data folder: gRPC Generate / GenerateStream, and the synthvlm:curated stream worker writing
/// images to the blob store and GeneratedImage entries, idempotently.
/// </summary>
public sealed class DiffusionServiceTests : IAsyncLifetime
{
    private RedisServer _redis = null!;
    private DirectoryInfo _data = null!;
    private ServiceProcess _service = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(new RedisServerOptions { Password = "pw-diffusion" });
        _data = Directory.CreateTempSubdirectory("synthvlm-diffusion-");
        _service = await ServiceProcess.StartAsync(KnownServices.Diffusion, new Dictionary<string, string?>
        {
            [KnownEnvironment.RedisConnectionStringEnv] = _redis.ConnectionString,
            [KnownEnvironment.DataDirectory] = _data.FullName,
            ["SynthVlm__Diffusion__Width"] = "64",
            ["SynthVlm__Diffusion__Height"] = "48",
            ["SynthVlm__Diffusion__Steps"] = "5",
            ["SynthVlm__Diffusion__Guidance"] = "5",
        });
    }

    public async Task DisposeAsync()
    {
        await _service.DisposeAsync();
        await _redis.DisposeAsync();
        _data.Delete(recursive: true);
    }

    [Fact]
    public async Task Generate_is_deterministic_per_seed_and_returns_a_png_of_the_requested_size()
    {
        using var channel = GrpcChannel.ForAddress(_service.GrpcAddress);
        var client = new Protos.V1.Diffusion.DiffusionClient(channel);
        var request = new GenerateRequest { Prompt = "a red bus", Seed = 9, Spec = new GenerationSpec { Width = 72, Height = 40, Steps = 4 } };
        var a = await client.GenerateAsync(request).ResponseAsync.WithTimeout();
        var b = await client.GenerateAsync(request).ResponseAsync.WithTimeout();
        var c = await client.GenerateAsync(new GenerateRequest(request) { Seed = 10 }).ResponseAsync.WithTimeout();
        a.Image.ToByteArray().Should().Equal(b.Image.ToByteArray());
        a.Image.ToByteArray().Should().NotEqual(c.Image.ToByteArray());
        (a.Width, a.Height, a.Format).Should().Be((72, 40, "PNG"));
        (a.BaseSteps + a.RefinerSteps).Should().Be(4);
        a.InferenceMs.Should().BeGreaterThan(0).And.BeLessThanOrEqualTo(a.GenerateMs);
        using var decoded = ImageCodec.Decode(a.Image.Span);
        (decoded.Width, decoded.Height).Should().Be((72, 40));
    }

    [Fact]
    public async Task Generate_stream_reports_every_step_then_the_result()
    {
        using var channel = GrpcChannel.ForAddress(_service.GrpcAddress);
        using var call = new Protos.V1.Diffusion.DiffusionClient(channel).GenerateStream(new GenerateRequest { Prompt = "a lighthouse", Seed = 1, Spec = new GenerationSpec { Steps = 6 } });
        var events = new List<GenerateEvent>();
        await foreach (var e in call.ResponseStream.ReadAllAsync(TestTimeout.Token()))
        {
            events.Add(e);
        }
        events.Take(events.Count - 1).Should().OnlyContain(e => e.EventCase == GenerateEvent.EventOneofCase.Progress);
        events.Count(e => e.EventCase == GenerateEvent.EventOneofCase.Progress).Should().Be(6);
        events[^1].Result.Image.Length.Should().BeGreaterThan(0);
    }

    [Fact]
    public async Task Refiner_mode_img2img_runs_the_synthvlm_scripts_refiner_call_on_the_same_prompt_and_seed()
    {
        using var channel = GrpcChannel.ForAddress(_service.GrpcAddress);
        var client = new Protos.V1.Diffusion.DiffusionClient(channel);
        var handOver = new GenerateRequest { Prompt = "a red bus", Seed = 9, Spec = new GenerationSpec { Steps = 10 } };
        var img2img = new GenerateRequest(handOver) { Spec = new GenerationSpec { Steps = 10, RefinerMode = "img2img" } };
        var a = await client.GenerateAsync(handOver).ResponseAsync.WithTimeout();
        var b = await client.GenerateAsync(img2img).ResponseAsync.WithTimeout();
        var c = await client.GenerateAsync(img2img).ResponseAsync.WithTimeout();
        (a.BaseSteps, a.RefinerSteps).Should().Be((8, 2));
        // int(10 × 0.3) = 3 img2img steps from timestep 201; the 0.8 cutoff (200) keeps one.
        (b.BaseSteps, b.RefinerSteps).Should().Be((8, 1));
        b.Image.ToByteArray().Should().Equal(c.Image.ToByteArray());
        b.Image.ToByteArray().Should().NotEqual(a.Image.ToByteArray());

        var bad = () => client.GenerateAsync(new GenerateRequest(handOver) { Spec = new GenerationSpec { RefinerMode = "ensemble" } }).ResponseAsync.WithTimeout();
        var error = (await bad.Should().ThrowAsync<RpcException>()).Which;
        error.StatusCode.Should().Be(StatusCode.InvalidArgument);
        error.Status.Detail.Should().Contain("refiner mode must be handover or img2img");
    }

    [Theory]
    [InlineData(60, 48, 4, 5.0, "", "width must be a multiple of 8")]
    [InlineData(64, 48, -2, 5.0, "", "must not be negative")]
    [InlineData(64, 48, 4, -1.0, "", "guidance must be between 0 and 100")]
    [InlineData(64, 48, 4, 5.0, "rainbow", "scheduler")]
    public async Task Out_of_range_fields_are_invalid_argument(int width, int height, int steps, double guidance, string scheduler, string message)
    {
        using var channel = GrpcChannel.ForAddress(_service.GrpcAddress);
        var request = new GenerateRequest { Prompt = "x", Spec = new GenerationSpec { Width = width, Height = height, Steps = steps, Guidance = guidance, Scheduler = scheduler } };
        var act = () => new Protos.V1.Diffusion.DiffusionClient(channel).GenerateAsync(request).ResponseAsync.WithTimeout();
        var error = (await act.Should().ThrowAsync<RpcException>()).Which;
        error.StatusCode.Should().Be(StatusCode.InvalidArgument);
        error.Status.Detail.Should().Contain(message);
    }

    [Fact]
    public async Task Stream_worker_writes_each_variant_once_and_announces_it_and_dead_letters_bad_entries()
    {
        await using var redisMux = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse(_redis.ConnectionString)).WithTimeout();
        var redis = redisMux.GetDatabase();
        var producer = new StreamProducer(redis);
        var curated = new CuratedCaption { Run = "r1", CaptionId = "../c1", Caption = "a red bus at night", Variants = 2, RunSeed = 11 };
        await producer.ProduceAsync(KnownStreams.Curated, "r1", "CuratedCaption", curated.ToByteArray(), TestTimeout.Token()).WithTimeout();
        await producer.ProduceAsync(KnownStreams.Curated, "r1", "CuratedCaption", new CuratedCaption { Run = "r1", CaptionId = "c2", Caption = "x", Variants = 0 }.ToByteArray(), TestTimeout.Token()).WithTimeout();

        await TestTimeout.Until(async () => (await redis.ExecuteAsync("XLEN", KnownStreams.Generated)).AsInt64() == 2
            && (await redis.ExecuteAsync("XLEN", KnownStreams.Dead)).AsInt64() == 1, TimeSpan.FromSeconds(90), "2 generated and 1 dead letter");
        var generated = await ReadGeneratedAsync(redis);
        generated.Select(g => g.Variant).Should().BeEquivalentTo([0, 1]);
        generated.Should().OnlyContain(g => g.ImageKey.StartsWith("runs/r1/images/", StringComparison.Ordinal) && !g.ImageKey.Contains("..", StringComparison.Ordinal));
        generated.Select(g => g.Seed).Distinct().Should().HaveCount(2);
        var files = generated.Select(g => Path.Combine(_data.FullName, "blobs", g.ImageKey)).ToArray();
        files.Should().OnlyContain(f => File.Exists(f));
        var stamps = files.Select(File.GetLastWriteTimeUtc).ToArray();
        generated[0].Settings["width"].Should().Be("64");

        // Redelivered (or resubmitted) caption: announced again, not regenerated.
        await producer.ProduceAsync(KnownStreams.Curated, "r1", "CuratedCaption", curated.ToByteArray(), TestTimeout.Token()).WithTimeout();
        await TestTimeout.Until(async () => (await redis.ExecuteAsync("XLEN", KnownStreams.Generated)).AsInt64() == 4, TimeSpan.FromSeconds(60), "4 generated entries");
        files.Select(File.GetLastWriteTimeUtc).Should().Equal(stamps);
        var again = await ReadGeneratedAsync(redis);
        again.Skip(2).Select(g => (g.ImageKey, g.Seed)).Should().BeEquivalentTo(generated.Select(g => (g.ImageKey, g.Seed)));

        var dead = (await redis.ExecuteAsync("XRANGE", KnownStreams.Dead, "-", "+").WithTimeout()).AsArray();
        dead[0][1].AsMap()[StreamDeadLetterFields.Reason].AsString().Should().Contain("variants must be between 1 and 64");
    }

    private static async Task<List<GeneratedImage>> ReadGeneratedAsync(StackExchange.Redis.IDatabase redis) =>
        (await redis.ExecuteAsync("XRANGE", KnownStreams.Generated, "-", "+").WithTimeout()).AsArray()
            .Select(e => GeneratedImage.Parser.ParseFrom(e[1].AsMap()[KnownStreamFields.Data].AsBytes()))
            .ToList();
}
