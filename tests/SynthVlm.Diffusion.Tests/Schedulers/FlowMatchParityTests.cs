using System.Text.Json;
using SynthVlm.Diffusion.Schedulers;
using SchedulerFactory = SynthVlm.Diffusion.Schedulers.Schedulers;

namespace SynthVlm.Diffusion.Tests.Schedulers;

/// <summary>
/// The flow-matching Euler scheduler (SD3) against diffusers' own scheduler file
/// (Fixtures/make_flow_match_vectors.py): schedules for several step counts and shifts, whole trajectories with
/// fixed model outputs, and the img2img start (set_begin_index + scale_noise).
/// </summary>
public sealed class FlowMatchParityTests
{
    // The C# code follows diffusers' float32/float64 operation order (no training σ table is involved), so
    // schedules, trajectories and scale_noise are required bit-equal (measured: equal). A wrong shift, or a single
    // instead of the double shift, moves σ by 1e-3 or more.
    private const double Abs = 0;

    private static JsonElement Vectors { get; } =
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(SchedulerFixtures.Folder, "flow_match_vectors.json"))).RootElement;

    public static TheoryData<string> RunNames()
    {
        var data = new TheoryData<string>();
        foreach (var run in Vectors.GetProperty("runs").EnumerateObject())
        {
            data.Add(run.Name);
        }

        return data;
    }

    public static TheoryData<int> ScheduleIndices()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Vectors.GetProperty("schedules").GetArrayLength(); i++)
        {
            data.Add(i);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(RunNames))]
    public void Trajectory_MatchesDiffusers(string name)
    {
        var run = Vectors.GetProperty("runs").GetProperty(name);
        var scheduler = SchedulerFactory.Create(SchedulerFixtures.Config(run));
        scheduler.Name.Should().Be(SchedulerNames.FlowMatchEulerDiscrete);
        scheduler.SetTimesteps(run.GetProperty("steps").GetInt32());
        Assertions.Close(scheduler.Timesteps, run.GetProperty("timesteps").Doubles(), Abs * 1000, 0, $"{name} timesteps");
        Assertions.Close(scheduler.Sigmas, run.GetProperty("sigmas").Doubles(), Abs, 0, $"{name} sigmas");
        scheduler.InitNoiseSigma.Should().Be(1.0);

        var latents = run.GetProperty("initial_noise").Floats();
        if (run.GetProperty("begin_index").ValueKind == JsonValueKind.Number)
        {
            scheduler.SetBeginIndex(run.GetProperty("begin_index").GetInt32());
            var noised = new float[latents.Length];
            scheduler.AddNoise(run.GetProperty("image").Floats(), latents, noised);
            Assertions.Close(noised, run.GetProperty("noised_start").Floats(), Abs, 0, $"{name} scale_noise");
            latents = noised;
        }

        var scaled = new float[latents.Length];
        foreach (var step in run.GetProperty("trajectory").EnumerateArray())
        {
            int index = step.GetProperty("index").GetInt32();
            scheduler.StepIndex.Should().Be(index);
            scheduler.ScaleModelInput(latents, scaled);
            scaled.Should().Equal(latents, "SD3 feeds the latents unscaled");
            scheduler.Step(step.GetProperty("model_output").Floats(), latents);
            Assertions.Close(latents, step.GetProperty("prev_sample").Floats(), Abs, 0, $"{name} step {index} prev_sample");
        }

        scheduler.StepIndex.Should().Be(scheduler.Timesteps.Count);
    }

    [Theory]
    [MemberData(nameof(ScheduleIndices))]
    public void Schedule_MatchesDiffusers(int index)
    {
        var entry = Vectors.GetProperty("schedules")[index];
        var scheduler = SchedulerFactory.Create(SchedulerFixtures.Config(entry));
        scheduler.SetTimesteps(entry.GetProperty("steps").GetInt32());
        string what = $"{entry.GetProperty("config").GetRawText()} steps {entry.GetProperty("steps").GetInt32()}";
        Assertions.Close(scheduler.Timesteps, entry.GetProperty("timesteps").Doubles(), Abs * 1000, 0, what + " timesteps");
        Assertions.Close(scheduler.Sigmas, entry.GetProperty("sigmas").Doubles(), Abs, 0, what + " sigmas");
    }

    [Fact]
    public void Sd3SchedulerConfig_FromFile_PicksFlowMatchWithShift()
    {
        var folder = Directory.CreateTempSubdirectory("flow-config-");
        string path = Path.Combine(folder.FullName, "scheduler_config.json");
        File.WriteAllText(path, """{"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.29.0.dev0", "num_train_timesteps": 1000, "shift": 3.0}""");
        var config = SchedulerConfig.FromFile(path);
        config.Shift.Should().Be(3.0);
        var scheduler = SchedulerFactory.Create(config);
        scheduler.Name.Should().Be(SchedulerNames.FlowMatchEulerDiscrete);
        scheduler.SetTimesteps(28);
        scheduler.Timesteps[0].Should().Be(1000);
        scheduler.Sigmas[^2].Should().BeApproximately(0.008928572, 1e-9, "diffusers shifts the end points twice");
        SchedulerFactory.Create(SchedulerConfig.StableDiffusion3).Name.Should().Be(SchedulerNames.FlowMatchEulerDiscrete);
        folder.Delete(recursive: true);
    }

    [Theory]
    [InlineData("use_dynamic_shifting", "true")]
    [InlineData("invert_sigmas", "true")]
    [InlineData("stochastic_sampling", "true")]
    [InlineData("use_karras_sigmas", "true")]
    [InlineData("shift_terminal", "0.1")]
    [InlineData("shift", "0")]
    public void UnsupportedSetting_IsRejectedByName(string key, string value)
    {
        var config = SchedulerConfig.FromJson($$"""{"_class_name": "FlowMatchEulerDiscreteScheduler", "{{key}}": {{value}}}""", "sd3/scheduler_config.json");
        var act = () => SchedulerFactory.Create(config);
        act.Should().Throw<SchedulerConfigException>().Which.Message.Should().Contain(key).And.Contain("sd3/scheduler_config.json");
    }
}
