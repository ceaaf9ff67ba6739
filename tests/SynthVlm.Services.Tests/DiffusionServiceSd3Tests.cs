using FluentAssertions;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Diffusion;
using SynthVlm.Diffusion.Tiny;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Protos.V1;
using SynthVlm.Streams;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Services.Tests;

/// <summary>
/// The DiffusionService as a real process with SynthVlm:Diffusion:BaseModel pointing at the tiny SD3
/// (TinySd3.Write): model_index.json picks the SD3 pipeline, gRPC and the synthvlm:curated worker
/// produce the library's SD3 images, each GeneratedImage records pipeline "sd3"; a refiner
/// configured with SD3 stops the start naming the setting.
/// </summary>
public sealed class DiffusionServiceSd3Tests : IAsyncLifetime
{
    private RedisServer _redis = null!;
    private DirectoryInfo _data = null!;
    private string _sd3 = null!;
    private ServiceProcess _service = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(new RedisServerOptions { Password = "pw-diffusion-sd3" });
        _data = Directory.CreateTempSubdirectory("synthvlm-diffusion-sd3-");
        _sd3 = Path.Combine(_data.FullName, "tiny-sd3");
        TinySd3.Write(_sd3);
        _service = await ServiceProcess.StartAsync(KnownServices.Diffusion, new Dictionary<string, string?>
        {
            [KnownEnvironment.RedisConnectionStringEnv] = _redis.ConnectionString,
            [KnownEnvironment.DataDirectory] = _data.FullName,
            ["SynthVlm__Diffusion__BaseModel"] = _sd3,
            ["SynthVlm__Diffusion__Width"] = "64",
            ["SynthVlm__Diffusion__Height"] = "48",
            ["SynthVlm__Diffusion__Steps"] = "3",
            ["SynthVlm__Diffusion__Guidance"] = "7",
        });
    }

    public async Task DisposeAsync()
    {
        await _service.DisposeAsync();
        await _redis.DisposeAsync();
        _data.Delete(recursive: true);
    }

    [Fact]
    public async Task Sd3_base_model_generates_the_sd3_pipelines_images_over_grpc_and_the_stream_worker_records_pipeline_sd3()
    {
        using var model = Sd3Model.Load(_sd3);
        var expected = new Sd3Pipeline(model).Generate(["a red bus at night"], [9UL], new GenerationSettings { Width = 64, Height = 48, Steps = 3, Guidance = 7, NegativePrompt = "", MaxSequenceLength = 512 });
        using var expectedImage = expected.Images[0].Image!;

        using var channel = GrpcChannel.ForAddress(_service.GrpcAddress);
        var client = new Protos.V1.Diffusion.DiffusionClient(channel);
        var result = await client.GenerateAsync(new GenerateRequest { Prompt = "a red bus at night", Seed = 9 }).ResponseAsync.WithTimeout();
        (result.Width, result.Height, result.BaseSteps, result.RefinerSteps).Should().Be((64, 48, 3, 0));
        result.Model.Should().Be(Path.GetFullPath(_sd3));
        using (var decoded = ImageCodec.Decode(result.Image.Span))
        {
            decoded.Pixels.ToArray().Should().Equal(expectedImage.Pixels.ToArray(), "the service runs the SD3 pipeline on the same settings and seed");
        }

        var refused = () => client.GenerateAsync(new GenerateRequest { Prompt = "x", Seed = 1, Spec = new GenerationSpec { UseRefiner = true } }).ResponseAsync.WithTimeout();
        var error = (await refused.Should().ThrowAsync<RpcException>()).Which;
        error.StatusCode.Should().Be(StatusCode.InvalidArgument);
        error.Status.Detail.Should().Contain("use_refiner").And.Contain("Stable Diffusion 3");

        await using var redisMux = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse(_redis.ConnectionString)).WithTimeout();
        var redis = redisMux.GetDatabase();
        var curated = new CuratedCaption { Run = "r1", CaptionId = "c1", Caption = "a red bus at night", Variants = 2, RunSeed = 11 };
        await new StreamProducer(redis).ProduceAsync(KnownStreams.Curated, "r1", "CuratedCaption", curated.ToByteArray(), TestTimeout.Token()).WithTimeout();
        await TestTimeout.Until(async () => (await redis.ExecuteAsync("XLEN", KnownStreams.Generated)).AsInt64() == 2, TimeSpan.FromSeconds(90), "2 generated entries");
        var generated = (await redis.ExecuteAsync("XRANGE", KnownStreams.Generated, "-", "+").WithTimeout()).AsArray()
            .Select(e => GeneratedImage.Parser.ParseFrom(e[1].AsMap()[KnownStreamFields.Data].AsBytes())).ToList();
        generated.Should().HaveCount(2).And.OnlyContain(g => g.Settings["pipeline"] == "sd3" && g.Settings["t5"] == "true" && g.Settings["refiner"] == "off"
            && g.Settings["max_sequence_length"] == "512", "SD3 prompts take the official script's 512 T5 tokens when none are configured");
        generated.Should().OnlyContain(g => g.Model == Path.GetFullPath(_sd3));
        var first = generated.Single(g => g.Variant == 0);
        var seeds = Enumerable.Range(0, 2).Select(v => DiffusionSeed(11, "c1", v)).ToArray();
        var batch = new Sd3Pipeline(model).Generate([curated.Caption, curated.Caption], seeds, new GenerationSettings { Width = 64, Height = 48, Steps = 3, Guidance = 7, NegativePrompt = "", MaxSequenceLength = 512 });
        using var fromBlob = ImageCodec.DecodeFile(Path.Combine(_data.FullName, "blobs", first.ImageKey));
        using var libraryFirst = batch.Images[0].Image!;
        using var librarySecond = batch.Images[1].Image!;
        fromBlob.Pixels.ToArray().Should().Equal(libraryFirst.Pixels.ToArray(), "variant 0's blob is the SD3 pipeline's image for its derived seed");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_refiner_configured_with_an_sd3_base_model_stops_the_start_naming_the_setting(bool skipT5)
    {
        await using var process = await ServiceProcess.StartAsync(KnownServices.Diffusion, new Dictionary<string, string?>
        {
            [KnownEnvironment.DataDirectory] = _data.FullName,
            ["SynthVlm__Diffusion__BaseModel"] = _sd3,
            ["SynthVlm__Diffusion__RefinerModel"] = "/models/sdxl-refiner",
            ["SynthVlm__Diffusion__SkipT5"] = skipT5 ? "true" : "false",
        }, waitHealthy: false);
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        await Task.Delay(100);

        exitCode.Should().Be(2);
        process.Output.Should().Contain("SynthVlm:Diffusion:RefinerModel").And.Contain("Stable Diffusion 3").And.Contain("/models/sdxl-refiner");
    }

    /// <summary>The stream worker's seed derivation (ImageGenerator.DeriveSeed), restated: SHA-256 of "runSeed/captionId/variant", first 8 bytes.</summary>
    private static ulong DiffusionSeed(ulong runSeed, string captionId, int variant) =>
        BitConverter.ToUInt64(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{runSeed}/{captionId}/{variant}")), 0);
}
