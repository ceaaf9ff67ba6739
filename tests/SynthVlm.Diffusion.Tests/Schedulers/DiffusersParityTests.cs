using System.Text.Json;
using SynthVlm.Diffusion.Schedulers;
using SchedulerFactory = SynthVlm.Diffusion.Schedulers.Schedulers;

namespace SynthVlm.Diffusion.Tests.Schedulers;

/// <summary>
/// Euler ancestral and DPM-Solver(++) against diffusers' own scheduler files (Fixtures/make_scheduler_vectors.py):
/// whole trajectories with fixed model outputs and explicit noise, and schedules for many step counts, spacings,
/// Karras on/off and beta schedules.
/// </summary>
public sealed class DiffusersParityTests
{
    // Tolerances. The C# code follows diffusers' float32 operation order, so what remains comes from the training
    // σ table: torch's vectorised linspace differs from numpy's by ≤ 1 float ulp in some βs, which leaves some σ
    // one float ulp apart (measured ≤ 3.5e-7 relative, hence SigmaRel). Most trajectory values then agree within
    // 1e-6; the worst (2.6e-6 absolute) are order-1 values obtained by cancellation from latents of order
    // σ_max ≈ 14.6, where that ulp is amplified. A wrong coefficient, branch or operation order moves values by
    // 1e-3 or more, so 1e-5 still separates parity from error.
    private const double SigmaRel = 1e-6;
    private const double SampleAbs = 1e-5;
    private const double SampleRel = 1e-5;

    public static TheoryData<string> RunNames()
    {
        var data = new TheoryData<string>();
        foreach (var run in SchedulerFixtures.Vectors.GetProperty("runs").EnumerateObject())
        {
            data.Add(run.Name);
        }

        return data;
    }

    public static TheoryData<int> ScheduleIndices()
    {
        var data = new TheoryData<int>();
        int count = SchedulerFixtures.Vectors.GetProperty("schedules").GetArrayLength();
        for (int i = 0; i < count; i++)
        {
            data.Add(i);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(RunNames))]
    public void Trajectory_MatchesDiffusers(string name)
    {
        var run = SchedulerFixtures.Vectors.GetProperty("runs").GetProperty(name);
        var scheduler = SchedulerFactory.Create(SchedulerFixtures.Config(run));
        scheduler.SetTimesteps(run.GetProperty("steps").GetInt32());
        if (run.GetProperty("begin_index").ValueKind == JsonValueKind.Number)
        {
            scheduler.SetBeginIndex(run.GetProperty("begin_index").GetInt32());
        }

        Assertions.Close(scheduler.Timesteps, run.GetProperty("timesteps").Doubles(), 0, 0, $"{name} timesteps");
        Assertions.Close(scheduler.Sigmas, run.GetProperty("sigmas").Doubles(), 1e-7, SigmaRel, $"{name} sigmas");
        Assertions.Close([scheduler.InitNoiseSigma], [(float)run.GetProperty("init_noise_sigma").GetDouble()], 0, SigmaRel, $"{name} init_noise_sigma");

        var latents = run.GetProperty("initial_noise").Floats();
        float init = (float)scheduler.InitNoiseSigma;
        for (int i = 0; i < latents.Length; i++)
        {
            latents[i] *= init;
        }

        Assertions.Close(latents, run.GetProperty("initial_latents").Floats(), 1e-6, 1e-6, $"{name} initial latents");
        var scaled = new float[latents.Length];
        foreach (var step in run.GetProperty("trajectory").EnumerateArray())
        {
            int index = step.GetProperty("index").GetInt32();
            scheduler.StepIndex.Should().Be(index);
            scheduler.ScaleModelInput(latents, scaled);
            Assertions.Close(scaled, step.GetProperty("scaled_input").Floats(), SampleAbs, SampleRel, $"{name} step {index} scaled input");
            var noise = step.GetProperty("noise");
            var source = noise.ValueKind == JsonValueKind.Array ? new ReplayNoise([noise.Floats()]) : null;
            scheduler.Step(step.GetProperty("model_output").Floats(), latents, source);
            source?.Remaining.Should().Be(0, "the scheduler draws one noise array per step");
            Assertions.Close(latents, step.GetProperty("prev_sample").Floats(), SampleAbs, SampleRel, $"{name} step {index} prev_sample");
        }

        scheduler.StepIndex.Should().Be(scheduler.Timesteps.Count);
    }

    [Theory]
    [MemberData(nameof(ScheduleIndices))]
    public void Schedule_MatchesDiffusers(int index)
    {
        var entry = SchedulerFixtures.Vectors.GetProperty("schedules")[index];
        var config = SchedulerFixtures.Config(entry);
        var scheduler = SchedulerFactory.Create(config);
        scheduler.SetTimesteps(entry.GetProperty("steps").GetInt32());
        string what = $"{config.ClassName} {entry.GetProperty("config").GetRawText()} steps {entry.GetProperty("steps").GetInt32()}";

        // Euler with Karras sigmas passes fractional timesteps (σ → t by log-linear interpolation with a float32
        // weight). A one-ulp difference in a float32 log σ (numpy's SIMD log vs libm, or a σ one ulp apart) is
        // divided by the log σ step between training timesteps (≈ 0.01 at small t), so t moves by up to ~1e-5
        // absolute at small t and 1–2 float ulps at large t; measured worst 1e-5. Every other timestep is an exact integer.
        bool fractional = config.UseKarrasSigmas && config.ClassName == SchedulerNames.EulerDiscrete;
        Assertions.Close(scheduler.Timesteps, entry.GetProperty("timesteps").Doubles(), fractional ? 5e-5 : 0, fractional ? 3e-7 : 0, what + " timesteps");
        Assertions.Close(scheduler.Sigmas, entry.GetProperty("sigmas").Doubles(), 1e-7, SigmaRel, what + " sigmas");
        Assertions.Close([scheduler.InitNoiseSigma], [(float)entry.GetProperty("init_noise_sigma").GetDouble()], 0, SigmaRel, what + " init_noise_sigma");
    }
}
