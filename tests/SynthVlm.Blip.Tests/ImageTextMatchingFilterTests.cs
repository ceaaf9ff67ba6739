using SynthVlm.Imaging;

namespace SynthVlm.Blip.Tests;

public sealed class ImageTextMatchingFilterTests : IDisposable
{
    private readonly List<RgbImage> _images = [];

    public void Dispose() => _images.ForEach(i => i.Dispose());

    /// <summary>Returns the given scores in order and records what it was asked.</summary>
    private sealed class FakeMatcher(params double[] scores) : IImageTextMatcher
    {
        public List<(byte FirstRed, int Width, string Caption)> Seen { get; } = [];

        public int Calls { get; private set; }

        public IReadOnlyList<ImageTextMatch> Match(IReadOnlyList<ImageCaptionPair> pairs, CancellationToken cancellationToken = default)
        {
            Calls++;
            var offset = Seen.Count;
            Seen.AddRange(pairs.Select(p => (p.Image.Pixels[0], p.Image.Width, p.Caption)));
            return [.. pairs.Select((p, i) => new ImageTextMatch(0, 0, scores[offset + i], 3, false))];
        }
    }

    /// <summary>A 2x2 image whose four pixels have red 10, 20 (top row), 30, 40 (bottom row).</summary>
    private RgbImage Image()
    {
        var pixels = new byte[12];
        for (var p = 0; p < 4; p++)
        {
            pixels[p * 3] = (byte)(10 * (p + 1));
        }
        var image = RgbImage.FromPixels(2, 2, pixels);
        _images.Add(image);
        return image;
    }

    [Fact]
    public void Defaults_are_the_SynthVLM_appendix_threshold_and_Data_Juicer_modes()
    {
        var s = new ImageTextMatchingSettings();
        (s.MinScore, s.MaxScore, s.Reduce, s.AnyOrAll, s.HorizontalFlip, s.VerticalFlip)
            .Should().Be((0.8, 1.0, ItmReduceMode.Average, ItmKeepStrategy.Any, false, false));
    }

    [Theory]
    [InlineData(0.9, true, null)]
    [InlineData(0.8, true, null)]
    [InlineData(1.0, true, null)]
    [InlineData(0.79995, false, "image_text_matching_score 0.8 below min 0.8")]
    [InlineData(0.41234, false, "image_text_matching_score 0.4123 below min 0.8")]
    public void One_image_is_kept_inside_the_closed_interval(double score, bool keep, string? reason)
    {
        var filter = new ImageTextMatchingFilter(new FakeMatcher(score));
        var result = filter.Evaluate("a cat", [Image()]);
        result.Keep.Should().Be(keep);
        result.Scores.Should().Equal(score);
        result.ImageScores.Should().ContainSingle().Which.Should().Equal(score);
        result.Reason.Should().Be(reason);
    }

    [Fact]
    public void Score_above_max_is_rejected_naming_the_max()
    {
        var filter = new ImageTextMatchingFilter(new FakeMatcher(0.99), new ImageTextMatchingSettings { MinScore = 0.003, MaxScore = 0.95 });
        filter.Evaluate("a cat", [Image()]).Reason.Should().Be("image_text_matching_score 0.99 above max 0.95");
    }

    [Theory]
    [InlineData(ItmReduceMode.Average, 0.7, false, "image_text_matching_score 0.7 (avg of 3 images) below min 0.8")]
    [InlineData(ItmReduceMode.Max, 0.9, true, null)]
    [InlineData(ItmReduceMode.Min, 0.5, false, "image_text_matching_score 0.5 (min of 3 images) below min 0.8")]
    public void Several_images_of_one_caption_are_reduced(ItmReduceMode mode, double expected, bool keep, string? reason)
    {
        var matcher = new FakeMatcher(0.9, 0.5, 0.7);
        var result = new ImageTextMatchingFilter(matcher, new ImageTextMatchingSettings { Reduce = mode }).Evaluate("a cat", [Image(), Image(), Image()]);
        result.Scores.Should().ContainSingle().Which.Should().BeApproximately(expected, 1e-12);
        result.ImageScores[0].Should().Equal(0.9, 0.5, 0.7);
        result.Keep.Should().Be(keep);
        result.Reason.Should().Be(reason);
        matcher.Calls.Should().Be(1, "all pairs go to the matcher in one call, which batches them");
        matcher.Seen.Select(s => s.Caption).Should().AllBe("a cat", "the caption is paired with each image");
    }

    [Theory]
    [InlineData(ItmKeepStrategy.Any, true, null)]
    [InlineData(ItmKeepStrategy.All, false, "image_text_matching_score 0.3 below min 0.8 in chunk 2 of 2 (all)")]
    public void Chunks_are_kept_with_any_or_all(ItmKeepStrategy strategy, bool keep, string? reason)
    {
        var filter = new ImageTextMatchingFilter(new FakeMatcher(0.9, 0.3), new ImageTextMatchingSettings { AnyOrAll = strategy });
        var result = filter.Evaluate([new ImageTextChunk("a cat", [Image()]), new ImageTextChunk("no image here", []), new ImageTextChunk("a dog", [Image()])]);
        result.Scores.Should().Equal(0.9, 0.3);
        result.Keep.Should().Be(keep);
        result.Reason.Should().Be(reason);
    }

    [Fact]
    public void Any_names_the_first_chunk_when_every_chunk_fails()
    {
        var filter = new ImageTextMatchingFilter(new FakeMatcher(0.2, 0.3));
        var result = filter.Evaluate([new ImageTextChunk("a cat", [Image()]), new ImageTextChunk("a dog", [Image()])]);
        result.Keep.Should().BeFalse();
        result.Reason.Should().Be("image_text_matching_score 0.2 below min 0.8 in chunk 1 of 2 (any)");
    }

    [Fact]
    public void No_images_keeps_the_sample_without_scoring_as_Data_Juicer_does()
    {
        var matcher = new FakeMatcher();
        var result = new ImageTextMatchingFilter(matcher).Evaluate("a cat", []);
        result.Should().BeEquivalentTo(new ImageTextMatchingResult(true, [], [], null));
        matcher.Calls.Should().Be(0);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  \t ")]
    public void Empty_caption_is_rejected_without_scoring(string caption)
    {
        var matcher = new FakeMatcher(0.99);
        var result = new ImageTextMatchingFilter(matcher).Evaluate(caption, [Image()]);
        result.Keep.Should().BeFalse();
        result.Reason.Should().Be("empty caption: no text to match the image against");
        matcher.Calls.Should().Be(0);
    }

    [Theory]
    [InlineData(false, false, 10)]
    [InlineData(true, false, 20)]
    [InlineData(false, true, 30)]
    [InlineData(true, true, 40)]
    public void Flips_are_applied_to_a_copy_before_scoring(bool horizontal, bool vertical, byte firstRed)
    {
        var matcher = new FakeMatcher(0.9);
        var image = Image();
        new ImageTextMatchingFilter(matcher, new ImageTextMatchingSettings { HorizontalFlip = horizontal, VerticalFlip = vertical })
            .Evaluate("a cat", [image]);
        matcher.Seen.Should().ContainSingle().Which.FirstRed.Should().Be(firstRed);
        image.Pixels[0].Should().Be(10, "the caller's image is not modified");
    }

    [Fact]
    public void Min_above_max_is_refused()
    {
        var act = () => new ImageTextMatchingFilter(new FakeMatcher(), new ImageTextMatchingSettings { MinScore = 0.9, MaxScore = 0.5 });
        act.Should().Throw<ArgumentException>().WithMessage("MinScore (0.9) is above MaxScore (0.5)*");
    }

    [Fact]
    public void Undecodable_and_missing_image_files_throw_naming_the_file()
    {
        var root = Directory.CreateTempSubdirectory("blip-filter-");
        try
        {
            var broken = Path.Combine(root.FullName, "broken.png");
            File.WriteAllBytes(broken, [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);
            var filter = new ImageTextMatchingFilter(new FakeMatcher(0.9, 0.9));
            var good = Path.Combine(BlipFixtures.Preprocess, "wide.png");
            var act = () => filter.EvaluateFiles("a cat", [good, broken]);
            act.Should().Throw<BlipImageException>().Where(e => e.ImagePath == broken && e.Message.StartsWith(broken + ": cannot decode the image", StringComparison.Ordinal));
            var missing = Path.Combine(root.FullName, "missing.jpg");
            var act2 = () => filter.EvaluateFiles("a cat", [missing]);
            act2.Should().Throw<BlipImageException>().Where(e => e.ImagePath == missing && e.Problem.StartsWith("cannot read the image", StringComparison.Ordinal));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Fact]
    public void With_the_tiny_BLIP_the_filter_averages_the_reference_probabilities()
    {
        // Reference probabilities of ("wide.png" | "exact.png", "a red car on the road") from tiny-blip-reference.json.
        var reference = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(BlipFixtures.Dir, "tiny-blip-reference.json")))
            .RootElement.GetProperty("pairs").EnumerateArray()
            .Where(p => p.GetProperty("caption").GetString() == "a red car on the road")
            .ToDictionary(p => p.GetProperty("image").GetString()!, p => p.GetProperty("probability").GetDouble());
        using var model = BlipItmModel.Load(BlipFixtures.TinyBlip, batchSize: 1);
        var filter = new ImageTextMatchingFilter(model);
        var images = new[] { "wide.png", "exact.png" }.Select(f => Path.Combine(BlipFixtures.Preprocess, f)).ToArray();
        var result = filter.EvaluateFiles("a red car on the road", images);
        var expected = (reference["wide.png"] + reference["exact.png"]) / 2;
        result.Scores.Should().ContainSingle().Which.Should().BeApproximately(expected, 1e-4);
        result.Keep.Should().Be(expected >= 0.8);
        result.Reason.Should().StartWith("image_text_matching_score 0.6").And.EndWith("(avg of 2 images) below min 0.8");
    }
}
