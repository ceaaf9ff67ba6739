using System.Text.Json;
using SynthVlm.Diffusion.Schedulers;
using SchedulerFactory = SynthVlm.Diffusion.Schedulers.Schedulers;

namespace SynthVlm.Diffusion.Tests.Schedulers;

/// <summary>
/// The refiner-as-img2img arithmetic (strength → begin index, the denoising_end cut, add_noise at the first timestep
/// with each item's torch generator) against diffusers' StableDiffusionXLImg2ImgPipeline code run unmodified
/// (Fixtures/make_img2img_reference.py → img2img_reference.json).
/// </summary>
public sealed class Img2ImgParityTests
{
    // add_noise is x + σ·n in float32 (Euler) or α·x + σ_t·n (DPM-Solver); the noise comes from TorchGaussianNoise,
    // which agrees with torch.randn within a few float32 ulps, and σ within 1 ulp (see DiffusersParityTests).
    private const double Abs = 1e-5;
    private const double Rel = 1e-5;

    private static readonly JsonElement Reference =
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(SchedulerFixtures.Folder, "img2img_reference.json"))).RootElement;

    public static TheoryData<string> CaseNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in Reference.GetProperty("cases").EnumerateObject())
        {
            data.Add(c.Name);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Begin_index_cut_and_noised_latents_match_diffusers(string name)
    {
        var c = Reference.GetProperty("cases").GetProperty(name);
        var steps = c.GetProperty("steps").GetInt32();
        var strength = c.GetProperty("strength").GetDouble();
        double? end = c.GetProperty("denoising_end").ValueKind == JsonValueKind.Null ? null : c.GetProperty("denoising_end").GetDouble();
        var scheduler = SchedulerFactory.Create(SchedulerFixtures.Config(c));
        scheduler.SetTimesteps(steps);
        scheduler.Timesteps.Should().Equal(c.GetProperty("schedule").Doubles(), $"{name}: schedule");

        var begin = Img2ImgStrength.BeginIndex(steps, strength);
        begin.Should().Be(c.GetProperty("begin_index").GetInt32(), $"{name}: t_start");
        (steps - begin).Should().Be(c.GetProperty("img2img_steps").GetInt32(), $"{name}: num_inference_steps after get_timesteps");
        scheduler.Timesteps.Skip(begin).Should().Equal(c.GetProperty("img2img_timesteps").Doubles(), $"{name}: img2img timesteps");
        if (c.TryGetProperty("error", out _))
        {
            Img2ImgStrength.InitTimestep(steps, strength).Should().Be(0);
            return;
        }

        var stop = Img2ImgStrength.EndIndex(scheduler.Timesteps, begin, end);
        (stop - begin).Should().Be(c.GetProperty("run_steps").GetInt32(), $"{name}: steps after the denoising_end cut");
        scheduler.Timesteps.Skip(begin).Take(stop - begin).Should().Equal(c.GetProperty("run_timesteps").Doubles(), $"{name}: run timesteps");
        scheduler.Timesteps[begin].Should().Be(c.GetProperty("latent_timestep").GetDouble());

        // add_noise at the first img2img timestep, each item's noise from its own generator.
        var shape = Reference.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var perItem = shape[1] * shape[2] * shape[3];
        var seeds = c.GetProperty("seeds").EnumerateArray().Select(e => e.GetUInt64()).ToArray();
        var latents = c.GetProperty("base_latents").Floats();
        var noise = new float[latents.Length];
        for (var i = 0; i < seeds.Length; i++)
        {
            new TorchGaussianNoise(seeds[i]).Fill(noise.AsSpan(i * perItem, perItem));
        }
        scheduler.SetBeginIndex(begin);
        scheduler.AddNoise(latents, noise, latents);
        Assertions.Close(latents.Select(v => (double)v).ToArray(), c.GetProperty("noised_latents").Doubles(), Abs, Rel, $"{name}: noised latents");
    }

    [Fact]
    public void The_synthvlm_script_refiner_runs_5_of_18_steps_and_stops_at_timestep_209()
    {
        var c = Reference.GetProperty("cases").GetProperty("synthvlm_script_60");
        c.GetProperty("run_timesteps").Doubles().Should().Equal(273, 257, 241, 225, 209);
        var scheduler = SchedulerFactory.Create(SchedulerFixtures.Config(c));
        scheduler.SetTimesteps(60);
        Img2ImgStrength.EndIndex(scheduler.Timesteps, Img2ImgStrength.BeginIndex(60, 0.3), 0.8).Should().Be(47);
    }

    [Theory]
    [InlineData(7, 0.7, 4)]
    [InlineData(60, 0.3, 18)]
    [InlineData(10, 1.0, 10)]
    [InlineData(10, 0.05, 0)]
    public void Init_timestep_truncates_the_float64_product(int steps, double strength, int expected) =>
        Img2ImgStrength.InitTimestep(steps, strength).Should().Be(expected);

    [Fact]
    public void Out_of_range_arguments_are_refused()
    {
        FluentActions.Invoking(() => Img2ImgStrength.InitTimestep(10, 1.5)).Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => Img2ImgStrength.InitTimestep(0, 0.3)).Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => Img2ImgStrength.EndIndex([3.0, 2.0], 3, null)).Should().Throw<ArgumentOutOfRangeException>();
    }
}
