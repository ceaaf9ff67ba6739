using SynthVlm.Diffusion.Schedulers;
using SchedulerFactory = SynthVlm.Diffusion.Schedulers.Schedulers;

namespace SynthVlm.Diffusion.Tests.Pipeline;

/// <summary>
/// The refiner as the SynthVLM script calls it (<see cref="RefinerMode.Img2Img"/>) next to the documented hand-over, end to
/// end on the tiny SDXL base and refiner: the same captions and seeds through both modes.
/// </summary>
public sealed class RefinerModeTests(TinySdxlFixture models) : IClassFixture<TinySdxlFixture>
{
    private static readonly GenerationSettings Small = new() { Width = 64, Height = 48, Steps = 20, Guidance = 5, RefinerStart = 0.8 };

    private static readonly GenerationSettings Img2Img = Small with { RefinerMode = RefinerMode.Img2Img, RefinerStrength = 0.3 };

    private static byte[] Pixels(GeneratedImageResult r) => r.Image!.Pixels.ToArray();

    [Fact]
    public void Img2img_restarts_at_the_strength_index_and_stops_at_the_refiner_start_cutoff()
    {
        var pipeline = new SdxlPipeline(models.Base, models.Refiner);
        var schedule = SchedulerFactory.Create(models.Refiner.SchedulerConfig);
        schedule.SetTimesteps(20);

        var cut = new List<DiffusionStep>();
        var batch = pipeline.Generate(["a lighthouse"], [5UL], Img2Img, cut.Add);
        // Leading spacing, 20 steps: 951, 901, …, 1. The base runs t ≥ 200 (16 steps); int(20 × 0.3) = 6 img2img steps
        // start at index 14 (251), and the 0.8 cutoff keeps 251 and 201.
        batch.Timings.BaseSteps.Should().Be(16);
        cut.Where(s => s.Stage == "base").Select(s => s.Timestep).Should().Equal(schedule.Timesteps.Take(16));
        cut.Where(s => s.Stage == "refiner").Select(s => s.Timestep).Should().Equal(251, 201);
        batch.Timings.RefinerSteps.Should().Be(2);

        var full = new List<DiffusionStep>();
        var uncut = pipeline.Generate(["a lighthouse"], [5UL], Img2Img with { RefinerStopsAtStart = false }, full.Add);
        full.Where(s => s.Stage == "refiner").Select(s => s.Timestep).Should().Equal(schedule.Timesteps.Skip(14));
        uncut.Timings.RefinerSteps.Should().Be(6);
        Pixels(uncut.Images[0]).Should().NotEqual(Pixels(batch.Images[0]));
    }

    [Fact]
    public void Both_modes_are_deterministic_per_seed_on_the_same_captions_and_differ_from_each_other()
    {
        var pipeline = new SdxlPipeline(models.Base, models.Refiner);
        string[] captions = ["a red bus at night", "a cat on a sofa"];
        ulong[] seeds = [42, 7];
        var handOver = pipeline.Generate(captions, seeds, Small).Images;
        var handOverAgain = pipeline.Generate(captions, seeds, Small).Images;
        var img2img = pipeline.Generate(captions, seeds, Img2Img).Images;
        var img2imgAgain = pipeline.Generate(captions, seeds, Img2Img).Images;
        var otherSeeds = pipeline.Generate(captions, [43UL, 8UL], Img2Img).Images;
        for (var i = 0; i < captions.Length; i++)
        {
            Pixels(handOver[i]).Should().Equal(Pixels(handOverAgain[i]));
            Pixels(img2img[i]).Should().Equal(Pixels(img2imgAgain[i]));
            Pixels(img2img[i]).Should().NotEqual(Pixels(handOver[i]), "img2img re-noises the base output instead of continuing it");
            Pixels(img2img[i]).Should().NotEqual(Pixels(otherSeeds[i]));
            img2img[i].Seed.Should().Be(seeds[i]);
        }
    }

    [Fact]
    public void An_img2img_picture_does_not_depend_on_what_it_was_batched_with()
    {
        var pipeline = new SdxlPipeline(models.Base, models.Refiner);
        var alone = pipeline.Generate(["a cat on a sofa"], [7UL], Img2Img).Images[0];
        var batch = pipeline.Generate(["a dog in the park", "a cat on a sofa"], [9UL, 7UL], Img2Img).Images;
        Pixels(alone).Zip(Pixels(batch[1]), (x, y) => Math.Abs(x - y)).Max().Should().BeLessThanOrEqualTo(1);
    }

    [Fact]
    public void The_added_noise_is_the_items_next_draw_at_the_sigma_of_the_begin_index()
    {
        // 10 steps: the base runs 901 … 201 (8 steps). Strength 0.1 starts at index 9 (t = 1), strength 0.2 at index 8
        // (t = 101): both below the 0.8 cutoff, so no refiner step runs and the decoded latents are the base's latents
        // plus σ·n, n being the item's second torch.randn draw (the first made the initial latents).
        var pipeline = new SdxlPipeline(models.Base, models.Refiner);
        var s = Img2Img with { Steps = 10 };
        var at9 = pipeline.Generate(["a boat"], [3UL], s with { RefinerStrength = 0.1 });
        var at8 = pipeline.Generate(["a boat"], [3UL], s with { RefinerStrength = 0.2 });
        at9.Timings.RefinerSteps.Should().Be(0);
        at8.Timings.RefinerSteps.Should().Be(0);

        var perItem = at9.FinalLatents.Length;
        var generator = new TorchGaussianNoise(3);
        var noise = new float[perItem];
        generator.Fill(noise);
        generator.Fill(noise);
        var schedule = SchedulerFactory.Create(models.Refiner.SchedulerConfig);
        schedule.SetTimesteps(10);
        var dSigma = (float)schedule.Sigmas[8] - (float)schedule.Sigmas[9];
        var a = at9.FinalLatents.Span;
        var b = at8.FinalLatents.Span;
        var worst = 0.0;
        for (var i = 0; i < perItem; i++)
        {
            worst = Math.Max(worst, Math.Abs((b[i] - a[i]) - (dSigma * noise[i])));
        }
        worst.Should().BeLessThan(1e-5);
        Pixels(at9.Images[0]).Should().NotEqual(Pixels(at8.Images[0]));
    }

    [Theory]
    [InlineData(0.0, "refiner strength must be in (0, 1]")]
    [InlineData(1.5, "refiner strength must be in (0, 1]")]
    [InlineData(0.05, "gives int(10 × 0.05) = 0 refiner steps")]
    public void Img2img_settings_that_leave_no_step_are_refused(double strength, string message) =>
        FluentActions.Invoking(() => (Img2Img with { Steps = 10, RefinerStrength = strength }).Validate())
            .Should().Throw<ArgumentException>().WithMessage($"*{message}*");

    [Fact]
    public void Hand_over_ignores_the_strength()
    {
        var pipeline = new SdxlPipeline(models.Base, models.Refiner);
        Pixels(pipeline.Generate(["a boat"], [3UL], Small with { RefinerStrength = 0.9 }).Images[0])
            .Should().Equal(Pixels(pipeline.Generate(["a boat"], [3UL], Small).Images[0]));
        (Small with { RefinerStrength = 0 }).Validate();
    }
}
