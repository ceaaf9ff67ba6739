using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using SynthVlm.Clip;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Testing;

namespace SynthVlm.Scoring.Tests;

public sealed class TinyClipFixture : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("scoring-clip-");

    public TinyClipFixture()
    {
        Folder = DefaultModels.EnsureTinyClip(Path.Combine(_dir.FullName, "clip"));
        Model = ClipModel.Load(Folder);
    }

    public string Folder { get; }

    public ClipModel Model { get; }

    public void Dispose()
    {
        Model.Dispose();
        _dir.Delete(recursive: true);
    }
}

public sealed class PairScorerTests(TinyClipFixture clip) : IClassFixture<TinyClipFixture>
{
    private static byte[] Png(int width, int height, int seed)
    {
        using var image = RgbImage.Allocate(width, height);
        var px = image.Pixels;
        for (var i = 0; i < px.Length; i++)
        {
            px[i] = (byte)((i * (5 + seed)) ^ (i >> 7));
        }
        return ImageCodec.Encode(image, ImageFormat.Png);
    }

    private (double Cosine, bool Truncated) Direct(byte[] png, string caption)
    {
        using var image = ImageCodec.Decode(png);
        var pixels = new float[clip.Model.ImageProcessor.TensorLength];
        clip.Model.ImageProcessor.Preprocess(image, pixels);
        var e = clip.Model.Encode([caption], pixels, 1);
        return (e.Cosine(0, 0), e.Truncated(0));
    }

    [Fact]
    public async Task Scores_are_clip_plus_lambda_ssim_with_the_prefix_and_the_imaging_ssim_score()
    {
        await using var scorer = new PairScorer(clip.Model, new PairScorerOptions { Lambda = 0.7 });
        var png = Png(120, 90, 1);
        var score = await scorer.ScoreAsync(png, "a dog on a sofa").WithTimeout();

        var (cosine, _) = Direct(png, ClipScore.SynthVlmPrefix + "a dog on a sofa");
        using var decoded = ImageCodec.Decode(png);
        score.Cosine.Should().BeApproximately(cosine, 1e-6);
        score.Clip.Should().Be(Math.Max(score.Cosine, 0));
        score.Ssim.Should().Be(SsimScore.Compute(decoded));
        score.Weighted.Should().BeApproximately(score.Clip + (0.7 * score.Ssim), 1e-12);
        (score.Width, score.Height, score.Lambda).Should().Be((120, 90, 0.7));
        score.Timings.BatchSize.Should().Be(1);
    }

    [Fact]
    public async Task Hessel_weight_and_per_call_lambda_apply()
    {
        await using var scorer = new PairScorer(clip.Model, new PairScorerOptions { ClipWeight = 2.5, TextPrefix = "" });
        var png = Png(64, 64, 2);
        var score = await scorer.ScoreAsync(png, "stripes", lambda: 0).WithTimeout();
        var (cosine, _) = Direct(png, "stripes");
        score.Clip.Should().BeApproximately(2.5 * Math.Max(cosine, 0), 1e-6);
        score.Weighted.Should().Be(score.Clip);
    }

    [Fact]
    public async Task Concurrent_pairs_share_model_calls_and_each_gets_its_own_score()
    {
        await using var scorer = new PairScorer(clip.Model, new PairScorerOptions { BatchSize = 8, MaxBatchWait = TimeSpan.FromMilliseconds(200) });
        var images = Enumerable.Range(0, 20).Select(i => Png(48 + i, 40 + (2 * i), i)).ToArray();
        var scores = await Task.WhenAll(images.Select((png, i) => scorer.ScoreAsync(png, $"picture number {i}"))).WithTimeout();

        scores.Max(s => s.Timings.BatchSize).Should().BeGreaterThan(1);
        scores.Should().OnlyContain(s => s.Timings.BatchSize <= 8);
        for (var i = 0; i < images.Length; i++)
        {
            scores[i].Cosine.Should().BeApproximately(Direct(images[i], ClipScore.SynthVlmPrefix + $"picture number {i}").Cosine, 1e-5);
            scores[i].Width.Should().Be(48 + i);
        }
    }

    [Fact]
    public async Task Batch_size_one_never_batches()
    {
        await using var scorer = new PairScorer(clip.Model, new PairScorerOptions { BatchSize = 1 });
        var scores = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => scorer.ScoreAsync(Png(32, 32, i), "x"))).WithTimeout();
        scores.Should().OnlyContain(s => s.Timings.BatchSize == 1);
    }

    [Fact]
    public async Task Long_caption_is_scored_truncated_and_flagged()
    {
        await using var scorer = new PairScorer(clip.Model);
        var score = await scorer.ScoreAsync(Png(40, 40, 3), string.Join(' ', Enumerable.Repeat("a red bus", 60))).WithTimeout();
        score.CaptionTruncated.Should().BeTrue();
        score.CaptionTokens.Should().Be(77);
    }

    [Theory]
    [InlineData("", "The caption is empty.")]
    [InlineData("   ", "The caption is empty.")]
    public async Task Empty_caption_is_an_input_error(string caption, string message)
    {
        await using var scorer = new PairScorer(clip.Model);
        var act = () => scorer.ScoreAsync(Png(32, 32, 1), caption);
        (await act.Should().ThrowAsync<ScoringInputException>()).Which.Message.Should().Be(message);
    }

    [Fact]
    public async Task Corrupt_tiny_and_oversized_images_are_input_errors_naming_the_source_and_the_scorer_goes_on()
    {
        await using var scorer = new PairScorer(clip.Model, new PairScorerOptions { MaxPixels = 100 * 100 });
        var corrupt = () => scorer.ScoreAsync(new byte[] { 0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3 }, "a cat", "runs/r/x.jpg");
        (await corrupt.Should().ThrowAsync<ScoringInputException>()).Which.Message.Should().Contain("runs/r/x.jpg");
        var tiny = () => scorer.ScoreAsync(Png(8, 8, 1), "a cat", "small.png");
        (await tiny.Should().ThrowAsync<ScoringInputException>()).Which.Message.Should().Contain("small.png").And.Contain("11x11");
        var bomb = () => scorer.ScoreAsync(Png(200, 200, 1), "a cat", "big.png");
        (await bomb.Should().ThrowAsync<ScoringInputException>()).Which.Message.Should().Contain("big.png");

        var fine = await scorer.ScoreAsync(Png(64, 64, 1), "a cat").WithTimeout();
        fine.Ssim.Should().BeGreaterThan(0);
    }

    [Fact]
    public async Task Out_of_range_lambda_is_refused()
    {
        await using var scorer = new PairScorer(clip.Model);
        var act = () => scorer.ScoreAsync(Png(32, 32, 1), "a cat", lambda: -1);
        await act.Should().ThrowAsync<ScoringInputException>().WithMessage("lambda must be between 0 and 10*");
    }

    [Theory]
    [InlineData(nameof(PairScorerOptions.Lambda), "SynthVlm:Scoring:Lambda")]
    [InlineData(nameof(PairScorerOptions.BatchSize), "SynthVlm:Scoring:BatchSize")]
    [InlineData(nameof(PairScorerOptions.SsimDown), "SynthVlm:Scoring:SsimDown")]
    [InlineData(nameof(PairScorerOptions.ClipWeight), "SynthVlm:Scoring:ClipWeight")]
    public void Out_of_range_options_name_the_setting(string property, string key)
    {
        var options = new PairScorerOptions();
        switch (property)
        {
            case nameof(PairScorerOptions.Lambda): options.Lambda = 11; break;
            case nameof(PairScorerOptions.BatchSize): options.BatchSize = 0; break;
            case nameof(PairScorerOptions.SsimDown): options.SsimDown = 0; break;
            default: options.ClipWeight = 0; break;
        }
        var act = () => new PairScorer(clip.Model, options);
        act.Should().Throw<ArgumentException>().WithMessage(key + "*");
    }

    [Fact]
    public async Task Dispose_finishes_queued_pairs()
    {
        var scorer = new PairScorer(clip.Model, new PairScorerOptions { BatchSize = 4, MaxBatchWait = TimeSpan.FromMilliseconds(50) });
        var pending = Enumerable.Range(0, 10).Select(i => scorer.ScoreAsync(Png(32, 32, i), "x")).ToArray();
        await Task.WhenAll(pending).WithTimeout();
        await scorer.DisposeAsync().AsTask().WithTimeout();
        pending.Should().OnlyContain(t => t.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task Metrics_count_pairs_by_outcome_and_record_batch_sizes()
    {
        var outcomes = new ConcurrentBag<string>();
        var batches = new ConcurrentBag<int>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == ScoringTelemetry.Name)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "outcome")
                {
                    outcomes.Add((string)tag.Value!);
                }
            }
        });
        listener.SetMeasurementEventCallback<int>((instrument, value, _, _) => batches.Add(value));
        listener.Start();

        await using var scorer = new PairScorer(clip.Model);
        await scorer.ScoreAsync(Png(32, 32, 1), "a cat").WithTimeout();
        var bad = () => scorer.ScoreAsync(Png(32, 32, 1), "");
        await bad.Should().ThrowAsync<ScoringInputException>();

        outcomes.Should().Contain("ok").And.Contain("invalid");
        batches.Should().Contain(1);
    }
}

public sealed class BatchInvarianceTests(TinyClipFixture clip) : IClassFixture<TinyClipFixture>
{
    // A run's dataset must not depend on how pairs happened to be grouped into micro-batches
    // (that depends on timing and on how many replicas run), so a pair's score must be the same
    // bits whether it is encoded alone or with others of other lengths.
    [Fact]
    public void A_pairs_embedding_cosine_is_bit_identical_alone_and_in_a_mixed_batch()
    {
        var captions = new[] { "a", "a dog on a sofa under a lamp in a living room", "two cats", "the quick brown fox jumps over the lazy dog again and again and again", "x y" };
        var len = clip.Model.ImageProcessor.TensorLength;
        var pixels = new float[len * captions.Length];
        var rng = new Random(3);
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (float)(rng.NextDouble() * 4 - 2);
        }
        var together = clip.Model.Encode(captions, pixels, captions.Length);
        for (var i = 0; i < captions.Length; i++)
        {
            var alone = clip.Model.Encode([captions[i]], pixels.AsSpan(i * len, len).ToArray(), 1);
            BitConverter.DoubleToInt64Bits(alone.Cosine(0, 0)).Should().Be(BitConverter.DoubleToInt64Bits(together.Cosine(i, i)), $"caption {i}");
        }
    }
}
