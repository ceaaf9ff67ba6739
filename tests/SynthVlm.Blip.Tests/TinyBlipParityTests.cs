using System.Text.Json;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Blip.Tests;

/// <summary>
/// The whole path — image file → decode → BlipImageProcessor → tokenizer → ONNX → softmax — against
/// the PyTorch re-implementation in Fixtures/make_tiny_blip.py, which scored each pair alone.
/// </summary>
public sealed class TinyBlipParityTests
{
    private const double Tolerance = 1e-4;

    private sealed record Reference(string Image, string Caption, long[] InputIds, double[] Logits, double Probability);

    private static List<Reference> References()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(BlipFixtures.Dir, "tiny-blip-reference.json")));
        return [.. doc.RootElement.GetProperty("pairs").EnumerateArray().Select(p => new Reference(
            p.GetProperty("image").GetString()!,
            p.GetProperty("caption").GetString()!,
            [.. p.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt64())],
            [.. p.GetProperty("logits").EnumerateArray().Select(e => e.GetDouble())],
            p.GetProperty("probability").GetDouble()))];
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(16)]
    public void Probabilities_match_the_PyTorch_model_whatever_the_batching(int batchSize)
    {
        var refs = References();
        using var model = BlipItmModel.Load(BlipFixtures.TinyBlip, batchSize);
        var images = refs.Select(r => ImageCodec.DecodeFile(Path.Combine(BlipFixtures.Preprocess, r.Image))).ToList();
        try
        {
            var matches = model.Match([.. refs.Select((r, i) => new ImageCaptionPair(images[i], r.Caption))]);
            matches.Should().HaveCount(refs.Count);
            for (var i = 0; i < refs.Count; i++)
            {
                var r = refs[i];
                var m = matches[i];
                m.Probability.Should().BeApproximately(r.Probability, Tolerance, $"pair {i} ({r.Image}, \"{r.Caption}\")");
                ((double)m.NoMatchLogit).Should().BeApproximately(r.Logits[0], Tolerance, $"pair {i} logit 0");
                ((double)m.MatchLogit).Should().BeApproximately(r.Logits[1], Tolerance, $"pair {i} logit 1");
                m.TokenCount.Should().Be(r.InputIds.Length, $"pair {i} token count");
            }
            model.MatchProbabilities([.. refs.Select((r, i) => new ImageCaptionPair(images[i], r.Caption))])
                .Should().Equal(matches.Select(m => m.Probability));
        }
        finally
        {
            images.ForEach(i => i.Dispose());
        }
    }

    [Fact]
    public void Token_ids_match_the_reference_and_the_long_caption_is_truncated_to_max_text_length()
    {
        using var model = BlipItmModel.Load(BlipFixtures.TinyBlip);
        model.MaxTextLength.Should().Be(16);
        var buffer = new long[model.MaxTextLength];
        foreach (var r in References())
        {
            var n = model.Tokenizer.Encode(r.Caption, model.MaxTextLength, buffer, out var truncated);
            buffer.Take(n).Should().Equal(r.InputIds, $"caption \"{r.Caption}\"");
            truncated.Should().Be(r.Caption.StartsWith("two small dogs", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void An_empty_batch_gives_no_results_and_a_null_caption_is_refused_naming_the_pair()
    {
        using var model = BlipItmModel.Load(BlipFixtures.TinyBlip);
        model.Match([]).Should().BeEmpty();
        using var image = RgbImage.Allocate(8, 8);
        var act = () => model.Match([new ImageCaptionPair(image, "a cat"), new ImageCaptionPair(image, null!)]);
        act.Should().Throw<ArgumentException>().WithMessage("pair 1 has a null caption*");
    }
}
