using System.Text.Json;
using SynthVlm.Hallucination.Claims;
using SynthVlm.Recaptioning.Preferences;

namespace SynthVlm.Recaptioning.Tests;

/// <summary>
/// <see cref="PreferencePairBuilder"/> on hand-made judgements: ties, margin, identical captions,
/// the length band, the chosen-shorter/longer balance, the cap, unjudged samples, the no-valid-pair
/// outcome and the stored records.
/// </summary>
public sealed class PreferencesBuilderTests
{
    [Fact]
    public void Ties_give_no_valid_pair_and_the_statistics_say_why()
    {
        var builder = new PreferencePairBuilder();

        var pairs = builder.Add(Image("i1", Sample("a", "A cat on a mat.", 1), Sample("b", "A cat on a rug.", 1), Sample("c", "A cat on a bed.", 1)));

        pairs.Should().BeEmpty();
        var s = builder.Statistics;
        s.HasValidPair.Should().BeFalse();
        s.Candidates.Should().Be(3);
        s.Ties.Should().Be(3);
        s.Describe().Should().Be("no valid pair: 3 candidate pairs from 1 images: 3 ties, 0 below margin 1, 0 identical captions, 0 outside length ratio 1.5, 0 over the cap of 2 per image; 0 of 3 samples unjudged, 0 not produced");
        s.ToJson()["has_valid_pair"]!.GetValue<bool>().Should().BeFalse();
    }

    [Fact]
    public void Pairs_need_scores_at_least_the_margin_apart_and_the_fewer_rejected_claims_is_chosen()
    {
        var builder = new PreferencePairBuilder(new PreferencePairOptions { Margin = 2, MaxPairsPerImage = 5 });

        var pairs = builder.Add(Image("i1", Sample("s0", "One two three four.", 0), Sample("s1", "One two three five.", 1), Sample("s3", "One two three six.", 3)));

        pairs.Select(p => (p.Chosen.SampleId, p.Rejected.SampleId, p.ScoreGap)).Should().Equal(("s0", "s3", 3), ("s1", "s3", 2));
        builder.Statistics.BelowMargin.Should().Be(1);
        builder.Statistics.Pairs.Should().Be(2);
    }

    [Fact]
    public void Identical_captions_and_pairs_outside_the_length_band_are_dropped()
    {
        var builder = new PreferencePairBuilder(new PreferencePairOptions { MaxLengthRatio = 1.5 });

        var pairs = builder.Add(Image("i1",
            Sample("short", "A dog.", 0),                                        // 2 words
            Sample("same", " A dog. ", 1),                                       // same text as "short"
            Sample("long", "A brown dog runs across a wide green field.", 2)));  // 9 words: 4.5 times "short"

        pairs.Should().BeEmpty();
        var s = builder.Statistics;
        s.IdenticalCaptions.Should().Be(1);
        s.OutsideLengthBand.Should().Be(2);
        s.Describe().Should().StartWith("no valid pair: 3 candidate pairs from 1 images: 0 ties, 0 below margin 1, 1 identical captions, 2 outside length ratio 1.5");

        var open = new PreferencePairBuilder(new PreferencePairOptions { MaxLengthRatio = double.PositiveInfinity });
        open.Add(Image("i1", Sample("short", "A dog.", 0), Sample("long", "A brown dog runs across a wide green field.", 2))).Should().ContainSingle();
    }

    [Fact]
    public void Unjudged_samples_take_part_in_no_pair()
    {
        var builder = new PreferencePairBuilder();

        var pairs = builder.Add(Image("i1", Sample("ok", "A red bus.", 0), Unjudged("broken", "A red bus stops."), Sample("bad", "A red bus flies.", 1)) with { FailedSamples = ["i1#s3: http 500"] });

        pairs.Should().ContainSingle().Which.Rejected.SampleId.Should().Be("bad");
        builder.Statistics.UnjudgedSamples.Should().Be(1);
        builder.Statistics.FailedSamples.Should().Be(1);
        builder.Statistics.Candidates.Should().Be(1);
    }

    [Fact]
    public void The_cap_keeps_the_largest_score_gaps()
    {
        var builder = new PreferencePairBuilder(new PreferencePairOptions { MaxPairsPerImage = 2 });

        var pairs = builder.Add(Image("i1", Sample("s0", "w w w w", 0), Sample("s1", "x x x x", 1), Sample("s2", "y y y y", 2), Sample("s3", "z z z z", 3)));

        pairs.Select(p => (p.Chosen.SampleId, p.Rejected.SampleId)).Should().Equal(("s0", "s3"), ("s0", "s2"));
        builder.Statistics.OverCap.Should().Be(4);
        builder.Statistics.SameLength.Should().Be(2);
    }

    [Fact]
    public void Length_balance_prefers_the_direction_that_evens_chosen_shorter_and_chosen_longer()
    {
        // Image 2 offers two pairs with equal gaps: chosen shorter (closer lengths, ranked first) and chosen longer.
        var second = Image("i2",
            Sample("a", "one two three four five six seven eight nine", 0),       // 9 words, chosen
            Sample("b", "one two three four five six seven eight nine ten", 1),   // 10 words
            Sample("c", "one two three four five six seven", 1));                 // 7 words
        var alone = new PreferencePairBuilder(new PreferencePairOptions { MaxPairsPerImage = 1 });
        alone.Add(second).Single().Rejected.SampleId.Should().Be("b", "ranked first: closer lengths");

        var builder = new PreferencePairBuilder(new PreferencePairOptions { MaxPairsPerImage = 1 });
        builder.Add(Image("i1", Sample("x", "a b c d", 0), Sample("y", "a b c d e", 1))).Single().Chosen.Words.Should().Be(4);
        builder.Statistics.ChosenShorter.Should().Be(1);

        var balanced = builder.Add(second).Single();

        balanced.Rejected.SampleId.Should().Be("c", "one chosen-shorter pair is already kept, so a chosen-longer one is preferred");
        builder.Statistics.ChosenShorter.Should().Be(1);
        builder.Statistics.ChosenLonger.Should().Be(1);
        builder.Statistics.ChosenWords.Should().Be(4 + 9);
        builder.Statistics.RejectedWords.Should().Be(5 + 7);
    }

    [Fact]
    public async Task Pairs_are_stored_as_jsonl_with_both_captions_judgements()
    {
        var builder = new PreferencePairBuilder();
        using var output = new StringWriter();
        var images = new[]
        {
            Image("i1", Sample("i1#s0", "A “blue” kite.", 0), Sample("i1#s1", "A blue kite flying.", 1)),
            Image("i2", Sample("i2#s0", "A cup.", 0), Sample("i2#s1", "A mug.", 0)),
        };

        var statistics = await builder.WriteAsync(images.ToAsyncEnumerable(), output);

        statistics.Pairs.Should().Be(1);
        statistics.Ties.Should().Be(1);
        statistics.ImagesWithPairs.Should().Be(1);
        var line = output.ToString().Should().EndWith("\n").And.Subject.TrimEnd('\n');
        line.Should().NotContain("\n").And.Contain("“blue”");
        using var json = JsonDocument.Parse(line);
        var root = json.RootElement;
        root.GetProperty("image_id").GetString().Should().Be("i1");
        root.GetProperty("prompt").GetString().Should().Be("Describe the image.");
        root.GetProperty("chosen").GetString().Should().Be("A “blue” kite.");
        root.GetProperty("rejected").GetString().Should().Be("A blue kite flying.");
        root.GetProperty("score_gap").GetInt32().Should().Be(1);
        var rejected = root.GetProperty("rejected_info");
        rejected.GetProperty("id").GetString().Should().Be("i1#s1");
        rejected.GetProperty("seed").GetInt32().Should().Be(7);
        rejected.GetProperty("judgement").GetProperty("status").GetString().Should().Be("hallucinated");
        rejected.GetProperty("judgement").GetProperty("claims").EnumerateArray().Select(c => c.GetProperty("verdict").GetString()).Should().Equal("yes", "no");
        root.GetProperty("chosen_info").GetProperty("judgement").GetProperty("status").GetString().Should().Be("hallucination_free");
    }

    [Fact]
    public void Unusable_options_are_named()
    {
        var margin = () => new PreferencePairBuilder(new PreferencePairOptions { Margin = 0 });
        margin.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*PreferencePairOptions.Margin must be at least 1*found 0*");
        var ratio = () => new PreferencePairBuilder(new PreferencePairOptions { MaxLengthRatio = 0.5 });
        ratio.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*MaxLengthRatio must be 1 or more*");
    }

    private static PreferenceImage Image(string id, params PreferenceSample[] samples) => new(id, id + ".png", "Describe the image.", samples);

    // A judged sample with `rejected` rejected claims after one supported claim.
    private static PreferenceSample Sample(string id, string caption, int rejected)
    {
        List<ClaimCheck> claims = [new("It is an image.", ClaimVerdict.Supported, "yes", null), .. Enumerable.Range(0, rejected).Select(i => new ClaimCheck($"Wrong {i}.", ClaimVerdict.Rejected, "no", null))];
        var status = rejected > 0 ? CaptionStatus.Hallucinated : CaptionStatus.HallucinationFree;
        return new PreferenceSample(id, caption, new CaptionJudgement(id, id + ".png", caption, status, claims, false, null, null, "- claims", "judge", "judge"), 0.7, 7);
    }

    private static PreferenceSample Unjudged(string id, string caption) =>
        new(id, caption, new CaptionJudgement(id, id + ".png", caption, CaptionStatus.Unjudged, [], false, UnjudgedCause.ClaimsUnparseable, "claims unparseable: x", "x", "judge", "judge"), 0.7, 7);
}
