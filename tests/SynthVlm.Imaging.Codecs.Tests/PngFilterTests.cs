using FluentAssertions;

namespace SynthVlm.Imaging.Codecs.Tests;

/// <summary>The PNG encoder's filters: the vector path against its scalar twin, and every filter through libpng.</summary>
public sealed class PngFilterTests
{
    [Theory]
    [InlineData(3)]
    [InlineData(18)]
    [InlineData(19)]
    [InlineData(48)]
    [InlineData(3 * 61)]
    [InlineData(3 * 1024)]
    public void Vector_filters_match_scalar_filters(int length)
    {
        var rng = new Random(length);
        var row = new byte[length];
        var prior = new byte[length];
        for (var trial = 0; trial < 20; trial++)
        {
            rng.NextBytes(row);
            if (trial % 3 == 0)
            {
                Array.Clear(prior); // the first row's "prior" is zeros
            }
            else
            {
                rng.NextBytes(prior);
            }
            for (var filter = 0; filter < 5; filter++)
            {
                var scalar = new byte[length];
                var vector = new byte[length];
                var scalarCost = PngFilter.Scalar(filter, row, prior, scalar);
                var vectorCost = PngFilter.Vectorized(filter, row, prior, vector);
                vector.Should().Equal(scalar, $"filter {filter}, length {length}, trial {trial}");
                vectorCost.Should().Be(scalarCost, $"filter {filter}, length {length}, trial {trial}");
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Each_filter_round_trips_through_libpng(int filter)
    {
        using var image = Pixels.Picture(67, 23, seed: filter, noise: 40);
        var bytes = PngCodec.Encode(image, level: 6, forcedFilter: filter);
        using var back = ImageCodec.Decode(bytes);
        back.Pixels.ToArray().Should().Equal(image.Pixels.ToArray());
    }

    [Fact]
    public void Adaptive_filtering_beats_no_filtering_on_a_smooth_picture()
    {
        using var image = Pixels.Picture(256, 128, noise: 0);
        var adaptive = PngCodec.Encode(image, level: 6);
        var none = PngCodec.Encode(image, level: 6, forcedFilter: 0);
        adaptive.Length.Should().BeLessThan(none.Length);
    }
}
