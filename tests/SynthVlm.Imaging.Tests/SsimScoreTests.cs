using Xunit.Abstractions;

namespace SynthVlm.Imaging.Tests;

public sealed class SsimScoreTests(ITestOutputHelper output)
{
    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var entry in Fixtures.SsimScores)
        {
            data.Add(entry.GetProperty("image").GetString()!, entry.GetProperty("down").GetInt32());
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SsimScore_MatchesPillowPlusSkimage(string image, int down)
    {
        var entry = Fixtures.SsimScores.Single(e => e.GetProperty("image").GetString() == image && e.GetProperty("down").GetInt32() == down);
        using var picture = Fixtures.LoadImage(image);
        double expected = entry.GetProperty("ssim_score").GetDouble();
        double actual = SsimScore.Compute(picture, down);
        output.WriteLine($"{image} down {down}: reference {expected:R}, ours {actual:R}, |diff| {Math.Abs(actual - expected):E2}");
        // The resizes are byte-exact, so only SSIM's float32 error remains (< 1e-6 measured).
        actual.Should().BeApproximately(expected, 1e-4);
    }

    [Fact]
    public void SsimScore_DefaultsTo336()
    {
        using var picture = Fixtures.LoadImage("photo_1024");
        SsimScore.Compute(picture).Should().Be(SsimScore.Compute(picture, 336));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-336)]
    public void SsimScore_NonPositiveDown_ThrowsNamingTheParameter(int down)
    {
        using var picture = TestImages.Random(32, 32, 1);
        var act = () => SsimScore.Compute(picture, down);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("down");
    }

    [Fact]
    public void SsimScore_ImageSmallerThanWindow_ThrowsImageSizeException()
    {
        using var picture = TestImages.Random(10, 64, 1);
        var act = () => SsimScore.Compute(picture, 8);
        act.Should().Throw<ImageSizeException>().Which.Message.Should().Contain("10x64");
    }
}
