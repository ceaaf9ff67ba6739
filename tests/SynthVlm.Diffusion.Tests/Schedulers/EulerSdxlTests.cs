using System.Text.Json;
using SynthVlm.Diffusion.Schedulers;
using SchedulerFactory = SynthVlm.Diffusion.Schedulers.Schedulers;

namespace SynthVlm.Diffusion.Tests.Schedulers;

/// <summary>
/// EulerDiscreteScheduler with the SDXL config against every value of shared/reference/vectors/euler_sdxl.json
/// (diffusers' own Euler file, float32, torch CPU).
/// </summary>
public sealed class EulerSdxlTests
{
    // The vectors file states: "a float64 C# implementation should match within ~1e-5 absolute / 1e-6 relative".
    // Ours emulates diffusers' float32 training schedule, so σ agree to ≤ 1 float ulp (≤ 4e-7 relative).
    private const double SigmaAbs = 1e-5;
    private const double SigmaRel = 1e-6;

    // Step outputs are float32 computed in diffusers' operation order; a 1-ulp σ difference becomes ≤ 1e-6 relative.
    private const double SampleAbs = 1e-6;
    private const double SampleRel = 2e-6;

    private static JsonElement Vectors => SchedulerFixtures.EulerSdxl;

    private static IDiffusionScheduler Create()
    {
        var config = SchedulerConfig.FromJson(Vectors.GetProperty("scheduler_config").GetRawText(), "euler_sdxl.json") with
        {
            ClassName = SchedulerNames.EulerDiscrete,
        };
        return SchedulerFactory.Create(config);
    }

    [Theory]
    [InlineData("steps_60", 60)]
    [InlineData("steps_30", 30)]
    public void Schedule_MatchesVectors(string key, int steps)
    {
        var expected = Vectors.GetProperty(key);
        var scheduler = Create();
        scheduler.SetTimesteps(steps);

        scheduler.Timesteps.Should().Equal(expected.GetProperty("timesteps").Doubles());
        scheduler.Sigmas.Should().HaveCount(expected.GetProperty("sigmas_len").GetInt32());
        scheduler.Sigmas[^1].Should().Be(0);
        Assertions.Close(scheduler.Sigmas, expected.GetProperty("sigmas").Doubles(), SigmaAbs, SigmaRel, key + " sigmas");
        double init = expected.GetProperty("init_noise_sigma").GetDouble();
        scheduler.InitNoiseSigma.Should().BeApproximately(init, init * SigmaRel, "√(σ_max² + 1) for leading spacing");
    }

    [Theory]
    [InlineData("steps_60", 60)]
    [InlineData("steps_30", 30)]
    public void TwoStepExample_MatchesVectors(string key, int steps)
    {
        var inputs = Vectors.GetProperty("example_inputs");
        var scheduler = Create();
        scheduler.SetTimesteps(steps);
        scheduler.SetBeginIndex(0);
        var latents = inputs.GetProperty("noise").Floats();
        float init = (float)scheduler.InitNoiseSigma;
        for (int i = 0; i < latents.Length; i++)
        {
            latents[i] *= init;
        }

        var scaled = new float[latents.Length];
        var predicted = new float[latents.Length];
        foreach (var step in Vectors.GetProperty(key).GetProperty("example_steps_float32").EnumerateArray())
        {
            int index = step.GetProperty("step_index").GetInt32();
            string what = $"{key} step {index}";
            scheduler.StepIndex.Should().Be(index);
            Assertions.Close(latents, step.GetProperty("input_sample").Floats(), SampleAbs, SampleRel, what + " input");
            scheduler.Timesteps[index].Should().Be(step.GetProperty("timestep").GetDouble());
            scheduler.ScaleModelInput(latents, scaled);
            Assertions.Close(scaled, step.GetProperty("scale_model_input_output").Floats(), SampleAbs, SampleRel, what + " scale_model_input");
            double divisor = Math.Sqrt((scheduler.Sigmas[index] * scheduler.Sigmas[index]) + 1);
            divisor.Should().BeApproximately(step.GetProperty("scale_model_input_divisor_sqrt_sigma2_plus_1").GetDouble(), 1e-5);

            var modelOutput = step.GetProperty("model_output").Floats();
            EulerSchedule.PredictOriginal("epsilon", latents, modelOutput, (float)scheduler.Sigmas[index], predicted);
            Assertions.Close(predicted, step.GetProperty("pred_original_sample").Floats(), SampleAbs, SampleRel, what + " pred_original_sample");
            scheduler.Step(modelOutput, latents);
            Assertions.Close(latents, step.GetProperty("prev_sample").Floats(), SampleAbs, SampleRel, what + " prev_sample");
        }

        scheduler.StepIndex.Should().Be(2);
    }

    [Fact]
    public void TrainingSchedule_MatchesCheckpoints()
    {
        var config = SchedulerConfig.FromJson(Vectors.GetProperty("scheduler_config").GetRawText(), "euler_sdxl.json");
        var training = TrainingSchedule.Create(config);
        var checkpoints = Vectors.GetProperty("training_schedule_checkpoints");
        foreach (var entry in checkpoints.GetProperty("alphas_cumprod").EnumerateObject())
        {
            training.AlphasCumprod[int.Parse(entry.Name, System.Globalization.CultureInfo.InvariantCulture)]
                .Should().BeApproximately(entry.Value.GetDouble(), 1e-7, $"alphas_cumprod[{entry.Name}]");
        }

        foreach (var entry in checkpoints.GetProperty("sigma_train").EnumerateObject())
        {
            double expected = entry.Value.GetDouble();
            training.Sigmas[int.Parse(entry.Name, System.Globalization.CultureInfo.InvariantCulture)]
                .Should().BeApproximately(expected, expected * SigmaRel, $"sigma_train[{entry.Name}]");
        }
    }

    [Theory]
    [InlineData("denoising_split_60_steps_frac_0.8")]
    [InlineData("denoising_split_30_steps_frac_0.8")]
    public void DenoisingSplit_MatchesVectors(string key)
    {
        var split = Vectors.GetProperty(key);
        var scheduler = Create();
        scheduler.SetTimesteps(split.GetProperty("num_inference_steps").GetInt32());
        double fraction = split.GetProperty("denoising_end_base").GetDouble();

        DenoisingSplit.Cutoff(fraction).Should().Be(split.GetProperty("discrete_timestep_cutoff").GetInt32());
        int baseSteps = DenoisingSplit.BaseSteps(scheduler.Timesteps, fraction);
        baseSteps.Should().Be(split.GetProperty("base_num_steps").GetInt32());
        split.GetProperty("refiner_begin_index").GetInt32().Should().Be(baseSteps);
        (scheduler.Timesteps.Count - baseSteps).Should().Be(split.GetProperty("refiner_num_steps").GetInt32());

        scheduler.Timesteps.Take(baseSteps).Should().Equal(split.GetProperty("base_timesteps").Doubles());
        scheduler.Timesteps.Skip(baseSteps).Should().Equal(split.GetProperty("refiner_timesteps").Doubles());
        Assertions.Close(scheduler.Sigmas.Take(baseSteps + 1).ToArray(), split.GetProperty("base_sigmas_used").Doubles(), SigmaAbs, SigmaRel, key + " base sigmas");
        Assertions.Close(scheduler.Sigmas.Skip(baseSteps).ToArray(), split.GetProperty("refiner_sigmas_used").Doubles(), SigmaAbs, SigmaRel, key + " refiner sigmas");
        scheduler.Sigmas[baseSteps].Should().BeApproximately(split.GetProperty("base_last_sigma_reached").GetDouble(), 1e-6);

        // The refiner continues the same schedule from the base's stopping index, without adding noise.
        var refiner = scheduler.Clone();
        refiner.SetTimesteps(split.GetProperty("num_inference_steps").GetInt32());
        refiner.SetBeginIndex(baseSteps);
        var scaled = new float[1];
        refiner.ScaleModelInput([1f], scaled);
        (1.0 / scaled[0]).Should().BeApproximately(split.GetProperty("refiner_first_scale_model_input_divisor").GetDouble(), 1e-6);
    }

    [Fact]
    public void RefinerHandOver_MatchesVectors()
    {
        var example = Vectors.GetProperty("refiner_handover_example_60_steps");
        var scheduler = Create();
        scheduler.SetTimesteps(60);
        scheduler.SetBeginIndex(example.GetProperty("begin_index").GetInt32());
        scheduler.Timesteps[scheduler.StepIndex].Should().Be(example.GetProperty("timestep").GetDouble());
        scheduler.Sigmas[scheduler.StepIndex].Should().BeApproximately(example.GetProperty("sigma").GetDouble(), 1e-6);
        scheduler.Sigmas[scheduler.StepIndex + 1].Should().BeApproximately(example.GetProperty("sigma_next").GetDouble(), 1e-6);

        var latents = example.GetProperty("input_sample").Floats();
        var scaled = new float[latents.Length];
        scheduler.ScaleModelInput(latents, scaled);
        Assertions.Close(scaled, example.GetProperty("scale_model_input_output").Floats(), SampleAbs, SampleRel, "hand-over scale_model_input");
        var modelOutput = example.GetProperty("model_output").Floats();
        var predicted = new float[latents.Length];
        EulerSchedule.PredictOriginal("epsilon", latents, modelOutput, (float)scheduler.Sigmas[scheduler.StepIndex], predicted);
        Assertions.Close(predicted, example.GetProperty("pred_original_sample").Floats(), SampleAbs, SampleRel, "hand-over pred_original_sample");
        scheduler.Step(modelOutput, latents);
        Assertions.Close(latents, example.GetProperty("prev_sample").Floats(), SampleAbs, SampleRel, "hand-over prev_sample");
        scheduler.StepIndex.Should().Be(48);
    }

    [Theory]
    [InlineData("steps_60")]
    [InlineData("steps_30")]
    public void SynthVlmRefinerAsCoded_MatchesVectors(string key)
    {
        // img_from_sdxl.py passes denoising_end (not denoising_start) to the refiner with strength 0.3: diffusers
        // starts at n − int(n·0.3), re-noises to that σ, and stops at the t ≥ 200 cutoff.
        var expected = Vectors.GetProperty("synthvlm_refiner_as_coded").GetProperty(key);
        int steps = expected.GetProperty("num_inference_steps").GetInt32();
        var scheduler = Create();
        scheduler.SetTimesteps(steps);
        int begin = steps - (int)(steps * expected.GetProperty("strength_default").GetDouble());
        begin.Should().Be(expected.GetProperty("begin_index").GetInt32());
        scheduler.SetBeginIndex(begin);

        float[] original = [0.25f, -0.5f];
        float[] noise = [1f, -2f];
        var noised = new float[2];
        scheduler.AddNoise(original, noise, noised);
        double sigma = expected.GetProperty("add_noise_sigma").GetDouble();
        noised[0].Should().BeApproximately((float)(0.25 + sigma), 1e-6f);
        noised[1].Should().BeApproximately((float)(-0.5 - (2 * sigma)), 1e-6f);

        var run = scheduler.Timesteps.Skip(begin).ToList();
        int kept = DenoisingSplit.BaseSteps(run, expected.GetProperty("denoising_end").GetDouble());
        kept.Should().Be(expected.GetProperty("num_steps_run").GetInt32());
        run.Take(kept).Should().Equal(expected.GetProperty("timesteps_run").Doubles());
        Assertions.Close(scheduler.Sigmas.Skip(begin).Take(kept + 1).ToArray(), expected.GetProperty("sigmas_run").Doubles(), SigmaAbs, SigmaRel, key + " sigmas run");
        scheduler.Sigmas[begin + kept].Should().BeApproximately(expected.GetProperty("final_sigma_left_in_latents").GetDouble(), 1e-6);
    }
}
