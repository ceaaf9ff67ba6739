using System.Text.Json;
using SynthVlm.Recaptioning.Prompts;
using SynthVlm.Recaptioning.Sources;
using SynthVlm.Testing;

namespace SynthVlm.Recaptioning.Tests.Recaption;

/// <summary><see cref="RecaptionJobOptions.TopP"/>: sent with every request and recorded in each pool line's sampling.</summary>
public sealed class RecaptionTopPTests
{
    [Theory]
    [InlineData(0.9)]
    [InlineData(1.0)]
    public async Task Top_p_is_sent_with_every_request_and_recorded_in_the_sampling_settings(double topP)
    {
        using var temp = new TempFolder();
        var images = temp.Combine("images");
        for (var i = 0; i < 3; i++)
        {
            TinyImages.Write(Path.Combine(images, $"img{i}.png"), 20 + i);
        }
        var captioner = ScriptedCaptioner.Constant(ScriptedCaptioner.Describe);
        var options = new RecaptionJobOptions
        {
            OutputDirectory = temp.Combine("out"),
            Concurrency = 2,
            Prompt = CaptionPrompt.Brief,
            Temperature = 0.8,
            Seed = 3,
            TopP = topP,
        };

        var summary = await new RecaptionJob(captioner, options).RunAsync(ImageSources.Open(images), cancellationToken: TestTimeout.Token());

        summary.Captioned.Should().Be(3);
        captioner.Requests.Should().HaveCount(3).And.OnlyContain(r => r.TopP == topP && r.Temperature == 0.8 && r.Seed == 3);
        var lines = File.ReadAllLines(summary.Shards.Single()).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        lines.Should().HaveCount(3);
        lines.Should().OnlyContain(l => l.GetProperty("sampling").GetProperty("top_p").GetDouble() == topP);
        lines.Should().OnlyContain(l => l.GetProperty("sampling").GetProperty("temperature").GetDouble() == 0.8);
    }

    [Fact]
    public void The_default_is_off_and_a_top_p_outside_0_to_1_is_refused_naming_the_option()
    {
        new RecaptionJobOptions().TopP.Should().Be(1);
        foreach (var bad in new[] { 0.0, -1, 1.01, double.NaN })
        {
            var act = () => new RecaptionJob(ScriptedCaptioner.Constant(_ => "c"), new RecaptionJobOptions { OutputDirectory = "/tmp/x", TopP = bad });
            act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*RecaptionJobOptions.TopP*(0, 1]*");
        }
    }
}
