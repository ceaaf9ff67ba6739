using SynthVlm.Selection;

namespace SynthVlm.Selection.Tests;

public sealed class BestVariantTests
{
    [Fact]
    public void Keeps_the_best_variant_of_each_caption_and_the_lowest_variant_on_a_tie()
    {
        var input = new[]
        {
            new Candidate<string>("a", 0, 0.5, "a0"), new Candidate<string>("a", 1, 0.7, "a1"), new Candidate<string>("a", 2, 0.7, "a2"),
            new Candidate<string>("b", 0, 0.9, "b0"),
            new Candidate<string>("c", 1, 0.1, "c1"), new Candidate<string>("c", 0, 0.1, "c0"),
        };
        BestVariant.PerCaption(input).Select(c => c.Item).Should().Equal("a1", "b0", "c0");
    }

    [Fact]
    public void Interleaved_captions_are_refused()
    {
        var input = new[] { new Candidate<int>("a", 0, 1, 0), new Candidate<int>("b", 0, 1, 0), new Candidate<int>("a", 1, 1, 0) };
        var act = () => BestVariant.PerCaption(input).ToList();
        act.Should().Throw<ArgumentException>().WithMessage("*'a'*grouped*");
    }

    [Fact]
    public void An_empty_stream_gives_nothing() => BestVariant.PerCaption(Array.Empty<Candidate<int>>()).Should().BeEmpty();
}
