using FluentAssertions;
using Xunit;
using System.Text;
using Google.Protobuf;
using SynthVlm.Clip;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Protos.V1;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Streams;
using SynthVlm.Scoring;
using SynthVlm.Testing;

namespace SynthVlm.Services.Tests;

/// <summary>
/// The ScoringService as a real process on the tiny CLIP it writes into its data folder:
/// gRPC Score / ScoreBatch and the synthvlm:generated stream worker give the same numbers as
/// the scoring library called in-process, bad input gets the right status or a dead letter.
/// </summary>
public sealed class ScoringServiceTests : IAsyncLifetime
{
    private RedisServer _redis = null!;
    private DirectoryInfo _data = null!;
    private ServiceProcess _service = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(new RedisServerOptions { Password = "pw-score" });
        _data = Directory.CreateTempSubdirectory("synthvlm-scoring-");
        Directory.CreateDirectory(Path.Combine(_data.FullName, "blobs", "runs", "r1", "images"));
        await File.WriteAllBytesAsync(Path.Combine(_data.FullName, "blobs", "runs", "r1", "images", "good.png"), MakePng(96, 80, 1));
        await File.WriteAllBytesAsync(Path.Combine(_data.FullName, "blobs", "runs", "r1", "images", "other.png"), MakePng(64, 64, 2));
        await File.WriteAllBytesAsync(Path.Combine(_data.FullName, "blobs", "runs", "r1", "images", "corrupt.png"), Encoding.ASCII.GetBytes("\x89PNG\r\n\x1a\n not really"));
        _service = await ServiceProcess.StartAsync(KnownServices.Scoring, new Dictionary<string, string?>
        {
            [KnownEnvironment.RedisConnectionStringEnv] = _redis.ConnectionString,
            [KnownEnvironment.DataDirectory] = _data.FullName,
            ["SynthVlm__Streams__Consumer__ClaimIdleTimeout"] = "00:00:01",
        });
    }

    public async Task DisposeAsync()
    {
        await _service.DisposeAsync();
        await _redis.DisposeAsync();
        _data.Delete(recursive: true);
    }

    private string ClipFolder => Path.Combine(_data.FullName, "models", "tiny", "clip");

    private static byte[] MakePng(int width, int height, int seed)
    {
        using var image = RgbImage.Allocate(width, height);
        var pixels = image.Pixels;
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)((i * (7 + seed)) ^ (i / (width * 3) * 13));
        }
        return ImageCodec.Encode(image, ImageFormat.Png);
    }

    private async Task<PairScore> LibraryScoreAsync(string key, string caption)
    {
        using var model = ClipModel.Load(ClipFolder);
        await using var scorer = new PairScorer(model);
        return await scorer.ScoreAsync(await File.ReadAllBytesAsync(Path.Combine(_data.FullName, "blobs", key)), caption);
    }

    [Fact]
    public async Task Score_by_key_and_by_bytes_agree_with_the_library()
    {
        using var channel = GrpcChannel.ForAddress(_service.GrpcAddress);
        var client = new Protos.V1.Scoring.ScoringClient(channel);
        const string caption = "a red bus parked on a city street at night";

        var byKey = await client.ScoreAsync(new ScoreRequest { Id = "a", ImageKey = "runs/r1/images/good.png", Caption = caption }).ResponseAsync.WithTimeout();
        var bytes = await File.ReadAllBytesAsync(Path.Combine(_data.FullName, "blobs", "runs", "r1", "images", "good.png"));
        var byData = await client.ScoreAsync(new ScoreRequest { Id = "b", ImageData = ByteString.CopyFrom(bytes), Caption = caption, Lambda = 2 }).ResponseAsync.WithTimeout();
        var expected = await LibraryScoreAsync("runs/r1/images/good.png", caption);

        byKey.Id.Should().Be("a");
        byKey.Clip.Should().BeApproximately(expected.Clip, 1e-6);
        byKey.Cosine.Should().BeApproximately(expected.Cosine, 1e-6);
        byKey.Ssim.Should().BeApproximately(expected.Ssim, 1e-12);
        byKey.Weighted.Should().BeApproximately(expected.Clip + (0.5 * expected.Ssim), 1e-6);
        (byKey.Width, byKey.Height, byKey.Lambda).Should().Be((96, 80, 0.5));
        byKey.CaptionTokens.Should().Be(expected.CaptionTokens);
        byKey.Timings.BatchSize.Should().BeGreaterThan(0);
        byData.Clip.Should().BeApproximately(byKey.Clip, 1e-6);
        byData.Weighted.Should().BeApproximately(byKey.Clip + (2 * byKey.Ssim), 1e-6);
    }

    [Theory]
    [InlineData("runs/r1/images/good.png", "", null, StatusCode.InvalidArgument, "caption is empty")]
    [InlineData("runs/r1/images/corrupt.png", "a cat", null, StatusCode.InvalidArgument, "runs/r1/images/corrupt.png")]
    [InlineData("runs/r1/images/missing.png", "a cat", null, StatusCode.NotFound, "no image with key 'runs/r1/images/missing.png'")]
    [InlineData("../../etc/passwd", "a cat", null, StatusCode.InvalidArgument, "'..' segments are not allowed")]
    [InlineData("runs/r1/images/good.png", "a cat", 11.0, StatusCode.InvalidArgument, "lambda must be between 0 and 10")]
    public async Task Bad_requests_get_the_right_status_and_a_message_naming_the_problem(string key, string caption, double? lambda, StatusCode code, string message)
    {
        using var channel = GrpcChannel.ForAddress(_service.GrpcAddress);
        var request = new ScoreRequest { Id = "x", ImageKey = key, Caption = caption };
        if (lambda is { } l)
        {
            request.Lambda = l;
        }
        var act = () => new Protos.V1.Scoring.ScoringClient(channel).ScoreAsync(request).ResponseAsync.WithTimeout();
        var error = (await act.Should().ThrowAsync<RpcException>()).Which;
        error.StatusCode.Should().Be(code);
        error.Status.Detail.Should().Contain(message).And.StartWith("item 'x': ");
    }

    [Fact]
    public async Task Score_without_an_image_is_invalid_argument()
    {
        using var channel = GrpcChannel.ForAddress(_service.GrpcAddress);
        var act = () => new Protos.V1.Scoring.ScoringClient(channel).ScoreAsync(new ScoreRequest { Caption = "a cat" }).ResponseAsync.WithTimeout();
        (await act.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.InvalidArgument);
    }

    [Fact]
    public async Task Score_batch_streams_one_result_per_item_in_order_and_reports_bad_items_inline()
    {
        using var channel = GrpcChannel.ForAddress(_service.GrpcAddress);
        var request = new ScoreBatchRequest();
        for (var i = 0; i < 12; i++)
        {
            request.Items.Add(new ScoreRequest { Id = $"i{i}", ImageKey = i == 5 ? "runs/r1/images/corrupt.png" : i % 2 == 0 ? "runs/r1/images/good.png" : "runs/r1/images/other.png", Caption = $"picture number {i}" });
        }
        using var call = new Protos.V1.Scoring.ScoringClient(channel).ScoreBatch(request);
        var results = new List<ScoreResult>();
        await foreach (var r in call.ResponseStream.ReadAllAsync(TestTimeout.Token()))
        {
            results.Add(r);
        }
        call.GetStatus().StatusCode.Should().Be(StatusCode.OK);
        results.Select(r => r.Id).Should().Equal(Enumerable.Range(0, 12).Select(i => $"i{i}"));
        results[5].Error.Should().Contain("runs/r1/images/corrupt.png");
        results.Where((_, i) => i != 5).Should().OnlyContain(r => r.Error == "" && r.Ssim > 0);
        results.Where(r => r.Timings is not null).Max(r => r.Timings.BatchSize).Should().BeGreaterThan(1, "concurrent items share model calls");
        var expected = await LibraryScoreAsync("runs/r1/images/other.png", "picture number 3");
        results[3].Clip.Should().BeApproximately(expected.Clip, 1e-6);
    }

    [Fact]
    public async Task Stream_worker_scores_generated_images_and_dead_letters_the_corrupt_one()
    {
        await using var redisMux = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse(_redis.ConnectionString)).WithTimeout();
        var redis = redisMux.GetDatabase();
        var producer = new StreamProducer(redis);
        var longCaption = string.Join(' ', Enumerable.Repeat("a very long caption about buses", 30));
        var items = new[]
        {
            new GeneratedImage { Run = "r1", CaptionId = "c1", Caption = "a red bus at night", Variant = 0, ImageKey = "runs/r1/images/good.png", Seed = 7 },
            new GeneratedImage { Run = "r1", CaptionId = "c2", Caption = "a broken picture", Variant = 1, ImageKey = "runs/r1/images/corrupt.png", Seed = 8 },
            new GeneratedImage { Run = "r1", CaptionId = "c3", Caption = longCaption, Variant = 0, ImageKey = "runs/r1/images/other.png", Seed = 9 },
        };
        foreach (var item in items)
        {
            await producer.ProduceAsync(KnownStreams.Generated, "r1", "GeneratedImage", item.ToByteArray(), TestTimeout.Token()).WithTimeout();
        }
        await redis.ExecuteAsync("XADD", KnownStreams.Generated, "*", KnownStreamFields.Run, "r1", KnownStreamFields.Kind, "GeneratedImage", KnownStreamFields.Data, "not protobuf \xff").WithTimeout();

        await TestTimeout.Until(async () => (await redis.ExecuteAsync("XLEN", KnownStreams.Scored)).AsInt64() == 2
            && (await redis.ExecuteAsync("XLEN", KnownStreams.Dead)).AsInt64() == 2, TimeSpan.FromSeconds(60), "2 scored and 2 dead letters");

        var scored = (await redis.ExecuteAsync("XRANGE", KnownStreams.Scored, "-", "+").WithTimeout()).AsArray()
            .Select(e => ScoredImage.Parser.ParseFrom(e[1].AsMap()[KnownStreamFields.Data].AsBytes()))
            .ToDictionary(s => s.Image.CaptionId);
        scored.Keys.Should().BeEquivalentTo(["c1", "c3"]);
        var c1 = scored["c1"];
        var expected = await LibraryScoreAsync("runs/r1/images/good.png", "a red bus at night");
        c1.Score.Clip.Should().BeApproximately(expected.Clip, 1e-6);
        c1.Score.Ssim.Should().BeApproximately(expected.Ssim, 1e-12);
        c1.Score.Weighted.Should().BeApproximately(expected.Weighted, 1e-6);
        c1.Image.Seed.Should().Be(7);
        c1.ClipModel.Should().Be(ClipFolder);
        scored["c3"].Score.CaptionTruncated.Should().BeTrue();
        c1.Score.CaptionTruncated.Should().BeFalse();

        var dead = (await redis.ExecuteAsync("XRANGE", KnownStreams.Dead, "-", "+").WithTimeout()).AsArray()
            .Select(e => e[1].AsMap()[StreamDeadLetterFields.Reason].AsString()!).ToArray();
        dead.Should().ContainSingle(r => r.Contains("caption 'c2' variant 1") && r.Contains("runs/r1/images/corrupt.png"));
        dead.Should().ContainSingle(r => r.Contains("not a GeneratedImage message"));
    }
}
