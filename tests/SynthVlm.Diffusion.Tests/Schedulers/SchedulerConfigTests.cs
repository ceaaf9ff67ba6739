using SynthVlm.Diffusion.Schedulers;
using SchedulerFactory = SynthVlm.Diffusion.Schedulers.Schedulers;

namespace SynthVlm.Diffusion.Tests.Schedulers;

public sealed class SchedulerConfigTests
{
    // The SDXL base-1.0 scheduler_config.json as published (models-sdxl-clip.md §2.1), including keys Euler ignores.
    private const string SdxlJson = """
        {
          "_class_name": "EulerDiscreteScheduler",
          "_diffusers_version": "0.19.0.dev0",
          "beta_end": 0.012,
          "beta_schedule": "scaled_linear",
          "beta_start": 0.00085,
          "clip_sample": false,
          "interpolation_type": "linear",
          "num_train_timesteps": 1000,
          "prediction_type": "epsilon",
          "sample_max_value": 1.0,
          "set_alpha_to_one": false,
          "skip_prk_steps": true,
          "steps_offset": 1,
          "timestep_spacing": "leading",
          "trained_betas": null,
          "use_karras_sigmas": false
        }
        """;

    [Fact]
    public void FromFile_ReadsSdxlConfig_AndIgnoresUnknownKeys()
    {
        string path = Path.Combine(Path.GetTempPath(), $"scheduler_config_{Guid.NewGuid():N}.json");
        File.WriteAllText(path, SdxlJson);
        try
        {
            var config = SchedulerConfig.FromFile(path);
            config.Should().Be(SchedulerConfig.StableDiffusionXl with { Source = path });
            config.ClassName.Should().Be(SchedulerNames.EulerDiscrete);
            config.BetaStart.Should().Be(0.00085);
            config.StepsOffset.Should().Be(1);
            config.TimestepSpacing.Should().Be("leading");
            config.TrainedBetas.Should().BeNull();
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void FromJson_ReadsDpmKeys_IncludingPythonInfinity()
    {
        const string json = """
            {"_class_name": "DPMSolverMultistepScheduler", "solver_order": 3, "algorithm_type": "sde-dpmsolver++",
             "solver_type": "heun", "lower_order_final": false, "euler_at_final": true, "use_karras_sigmas": true,
             "final_sigmas_type": "sigma_min", "lambda_min_clipped": -Infinity, "variance_type": null,
             "num_train_timesteps": 1000.0, "note": "NaN and Infinity inside strings stay as they are"}
            """;
        var config = SchedulerConfig.FromJson(json, "dpm.json");
        config.SolverOrder.Should().Be(3);
        config.AlgorithmType.Should().Be("sde-dpmsolver++");
        config.SolverType.Should().Be("heun");
        config.LowerOrderFinal.Should().BeFalse();
        config.EulerAtFinal.Should().BeTrue();
        config.UseKarrasSigmas.Should().BeTrue();
        config.FinalSigmasType.Should().Be("sigma_min");
        config.LambdaMinClipped.Should().Be(double.NegativeInfinity);
        config.NumTrainTimesteps.Should().Be(1000);
        SchedulerFactory.Create(config).Name.Should().Be(SchedulerNames.DpmSolverMultistep);
    }

    [Theory]
    [InlineData("""{"num_train_timesteps": "many"}""", "num_train_timesteps", "expected an integer")]
    [InlineData("""{"num_train_timesteps": 1}""", "num_train_timesteps", "at least 2")]
    [InlineData("""{"beta_start": -0.1}""", "beta_start", "(0, 1)")]
    [InlineData("""{"beta_schedule": "cubic"}""", "beta_schedule", "'cubic' is not supported")]
    [InlineData("""{"timestep_spacing": "middle"}""", "timestep_spacing", "'leading'")]
    [InlineData("""{"use_karras_sigmas": "yes"}""", "use_karras_sigmas", "expected true or false")]
    [InlineData("""{"steps_offset": 1.5}""", "steps_offset", "expected an integer")]
    [InlineData("""{"trained_betas": [0.1, "x"]}""", "trained_betas", "item 1")]
    [InlineData("""{"trained_betas": [0.1, 0.2]}""", "trained_betas", "has 2 values")]
    [InlineData("""{"final_sigmas_type": "one"}""", "final_sigmas_type", "'zero'")]
    [InlineData("""{"rescale_betas_zero_snr": true}""", "rescale_betas_zero_snr", "not supported")]
    [InlineData("""{"use_exponential_sigmas": true}""", "use_exponential_sigmas", "not supported")]
    public void FromJson_BadValue_NamesSourceAndKey(string json, string key, string problem)
    {
        var act = () => SchedulerConfig.FromJson(json, "/models/x/scheduler/scheduler_config.json");
        var error = act.Should().Throw<SchedulerConfigException>().Which;
        error.Key.Should().Be(key);
        error.ConfigSource.Should().Be("/models/x/scheduler/scheduler_config.json");
        error.Message.Should().StartWith($"/models/x/scheduler/scheduler_config.json: '{key}': ").And.Contain(problem);
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("[1, 2]")]
    public void FromJson_NotAnObject_Throws(string json)
    {
        var act = () => SchedulerConfig.FromJson(json, "broken.json");
        act.Should().Throw<SchedulerConfigException>().WithMessage("broken.json: *").Which.Key.Should().BeNull();
    }

    [Fact]
    public void FromFile_Missing_ThrowsFileNotFound()
    {
        var act = () => SchedulerConfig.FromFile(Path.Combine(Path.GetTempPath(), $"absent_{Guid.NewGuid():N}.json"));
        act.Should().Throw<FileNotFoundException>();
    }

    [Theory]
    [InlineData(SchedulerNames.DpmSolverMultistep, """{"algorithm_type": "dpmsolver"}""", "algorithm_type")]
    [InlineData(SchedulerNames.DpmSolverMultistep, """{"solver_order": 4}""", "solver_order")]
    [InlineData(SchedulerNames.DpmSolverMultistep, """{"thresholding": true}""", "thresholding")]
    [InlineData(SchedulerNames.DpmSolverMultistep, """{"variance_type": "learned_range"}""", "variance_type")]
    [InlineData(SchedulerNames.DpmSolverMultistep, """{"prediction_type": "flow_prediction"}""", "prediction_type")]
    [InlineData(SchedulerNames.EulerAncestralDiscrete, """{"prediction_type": "sample"}""", "prediction_type")]
    [InlineData(SchedulerNames.EulerDiscrete, """{"interpolation_type": "log_linear"}""", "interpolation_type")]
    [InlineData(SchedulerNames.EulerDiscrete, """{"timestep_type": "continuous"}""", "timestep_type")]
    public void Create_UnsupportedSetting_NamesKey(string name, string json, string key)
    {
        var config = SchedulerConfig.FromJson(json, "cfg.json");
        var act = () => SchedulerFactory.Create(config, name);
        act.Should().Throw<SchedulerConfigException>().Which.Key.Should().Be(key);
    }

    [Fact]
    public void Create_UnknownName_ListsSupportedNames()
    {
        var act = () => SchedulerFactory.Create(SchedulerConfig.StableDiffusionXl, "PNDMScheduler");
        var message = act.Should().Throw<SchedulerConfigException>().Which.Message;
        message.Should().Contain("'PNDMScheduler'");
        foreach (string name in SchedulerNames.All)
        {
            message.Should().Contain(name);
        }
    }

    [Fact]
    public void Create_NoClassName_Throws()
    {
        var act = () => SchedulerFactory.Create(SchedulerConfig.FromJson("{}", "empty.json"));
        act.Should().Throw<SchedulerConfigException>().Which.Key.Should().Be("_class_name");
    }

    [Theory]
    [InlineData(null, SchedulerNames.EulerDiscrete, false)]
    [InlineData("euler", SchedulerNames.EulerDiscrete, false)]
    [InlineData("EULER-A", SchedulerNames.EulerAncestralDiscrete, false)]
    [InlineData("eulerancestraldiscretescheduler", SchedulerNames.EulerAncestralDiscrete, false)]
    [InlineData("dpmpp-2m", SchedulerNames.DpmSolverMultistep, false)]
    [InlineData("dpmpp-2m-karras", SchedulerNames.DpmSolverMultistep, true)]
    public void Create_ResolvesNamesAndAliases(string? name, string expectedClass, bool karras)
    {
        var scheduler = SchedulerFactory.Create(SchedulerConfig.StableDiffusionXl with { SolverOrder = 3 }, name);
        scheduler.Name.Should().Be(expectedClass);
        if (expectedClass == SchedulerNames.DpmSolverMultistep)
        {
            scheduler.Config.UseKarrasSigmas.Should().Be(karras);
            scheduler.Config.SolverOrder.Should().Be(2, "the 2M aliases pin the solver order");
            scheduler.Config.AlgorithmType.Should().Be("dpmsolver++");

            // from_config semantics: SDXL's leading spacing and offset carry over to DPM-Solver.
            scheduler.SetTimesteps(25);
            if (!karras)
            {
                scheduler.Timesteps[0].Should().Be(951, "1000 div 26 = 38; 25·38 + 1");
                scheduler.Timesteps[^1].Should().Be(39);
            }
        }
    }
}
