using SynthVlm.Diffusion.Schedulers;
using SchedulerFactory = SynthVlm.Diffusion.Schedulers.Schedulers;

namespace SynthVlm.Diffusion.Tests.Schedulers;

public sealed class SchedulerBehaviourTests
{
    public static TheoryData<string> Names() => new(SchedulerNames.EulerDiscrete, SchedulerNames.EulerAncestralDiscrete, SchedulerNames.DpmSolverMultistep, SchedulerNames.DpmPlusPlus2MKarras);

    private static IDiffusionScheduler Create(string name) => SchedulerFactory.Create(SchedulerConfig.StableDiffusionXl, name);

    private static float[] Ramp(int n, float scale) => Enumerable.Range(0, n).Select(i => scale * MathF.Sin(0.3f * i + 1)).ToArray();

    /// <summary>Runs every step with a fixed fake prediction and seeded noise; returns the final sample.</summary>
    private static float[] Run(IDiffusionScheduler scheduler, int steps, ulong seed)
    {
        scheduler.SetTimesteps(steps);
        var noise = new SeededGaussianNoise(seed);
        var latents = new float[37];
        noise.Fill(latents);
        for (int i = 0; i < latents.Length; i++)
        {
            latents[i] *= (float)scheduler.InitNoiseSigma;
        }

        var scaled = new float[latents.Length];
        for (int k = 0; k < scheduler.Timesteps.Count; k++)
        {
            scheduler.ScaleModelInput(latents, scaled);
            var prediction = scaled.Select(v => 0.5f * v).ToArray();
            scheduler.Step(prediction, latents, noise);
        }

        return latents;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void SetTimesteps_BelowOne_Throws(string name)
    {
        var scheduler = Create(name);
        scheduler.Invoking(s => s.SetTimesteps(0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("steps");
        scheduler.Invoking(s => s.SetTimesteps(-3)).Should().Throw<ArgumentOutOfRangeException>();
        scheduler.Invoking(s => s.SetTimesteps(1001)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Schedule_HasOneMoreSigma_EndingAtZero(string name)
    {
        var scheduler = Create(name);
        scheduler.Timesteps.Should().BeEmpty();
        scheduler.SetTimesteps(20);
        scheduler.Timesteps.Should().HaveCount(20);
        scheduler.Sigmas.Should().HaveCount(21);
        scheduler.Sigmas[^1].Should().Be(0);
        scheduler.Sigmas.Should().BeInDescendingOrder();
        scheduler.StepIndex.Should().Be(0);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Step_MisuseIsReported(string name)
    {
        var scheduler = Create(name);
        var sample = new float[4];
        scheduler.Invoking(s => s.Step(new float[4], sample, new SeededGaussianNoise(1))).Should().Throw<InvalidOperationException>().WithMessage("*SetTimesteps*");
        scheduler.SetTimesteps(2);
        scheduler.Invoking(s => s.Step(new float[3], sample, new SeededGaussianNoise(1))).Should().Throw<ArgumentException>().WithParameterName("modelOutput");
        scheduler.Invoking(s => s.ScaleModelInput(sample, new float[5])).Should().Throw<ArgumentException>().WithParameterName("destination");
        scheduler.Invoking(s => s.SetBeginIndex(2)).Should().Throw<ArgumentOutOfRangeException>();
        scheduler.Step(new float[4], sample, new SeededGaussianNoise(1));
        scheduler.Invoking(s => s.SetBeginIndex(0)).Should().Throw<InvalidOperationException>().WithMessage("*before the first Step*");
        scheduler.Step(new float[4], sample, new SeededGaussianNoise(1));
        scheduler.Invoking(s => s.Step(new float[4], sample, new SeededGaussianNoise(1))).Should().Throw<InvalidOperationException>().WithMessage("*all 2 steps*");
    }

    [Fact]
    public void AncestralStep_WithoutNoise_Throws()
    {
        var scheduler = Create(SchedulerNames.EulerAncestralDiscrete);
        scheduler.SetTimesteps(5);
        scheduler.Invoking(s => s.Step(new float[4], new float[4])).Should().Throw<ArgumentNullException>().WithParameterName("noise");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Clone_HasFreshIndependentState(string name)
    {
        var original = Create(name);
        original.SetTimesteps(12);
        var reference = Run(Create(name), 12, 7);

        // Interleave a clone's run with the original's: neither may disturb the other.
        var clone = original.Clone();
        clone.Timesteps.Should().BeEmpty("a clone starts without a schedule");
        clone.Config.Should().Be(original.Config);
        clone.SetTimesteps(12);
        var a = new float[37];
        var b = new float[37];
        var noiseA = new SeededGaussianNoise(7);
        var noiseB = new SeededGaussianNoise(7);
        noiseA.Fill(a);
        noiseB.Fill(b);
        for (int i = 0; i < a.Length; i++)
        {
            a[i] *= (float)original.InitNoiseSigma;
            b[i] *= (float)clone.InitNoiseSigma;
        }

        var scaledA = new float[37];
        var scaledB = new float[37];
        for (int k = 0; k < 12; k++)
        {
            original.ScaleModelInput(a, scaledA);
            original.Step(scaledA.Select(v => 0.5f * v).ToArray(), a, noiseA);
            clone.ScaleModelInput(b, scaledB);
            clone.Step(scaledB.Select(v => 0.5f * v).ToArray(), b, noiseB);
            clone.StepIndex.Should().Be(original.StepIndex);
        }

        a.Should().Equal(reference);
        b.Should().Equal(reference);
        reference.Should().OnlyContain(v => float.IsFinite(v));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void SetTimesteps_RestartsTheRun(string name)
    {
        var scheduler = Create(name);
        var first = Run(scheduler, 9, 3);
        var second = Run(scheduler, 9, 3);
        second.Should().Equal(first, "SetTimesteps resets the step index and any multistep history");
    }

    [Fact]
    public void DpmSolver_NoiseLevelsAndScaling_AreVariancePreserving()
    {
        var scheduler = Create(SchedulerNames.DpmPlusPlus2M);
        scheduler.SetTimesteps(10);
        scheduler.InitNoiseSigma.Should().Be(1.0);
        var sample = Ramp(9, 2f);
        var scaled = new float[9];
        scheduler.ScaleModelInput(sample, scaled);
        scaled.Should().Equal(sample);

        // add_noise: α·x + σ_t·n with α = 1/√(σ²+1), σ_t = σ·α.
        var noised = new float[1];
        scheduler.AddNoise([1f], [1f], noised);
        double sigma = scheduler.Sigmas[0];
        double alpha = 1 / Math.Sqrt((sigma * sigma) + 1);
        noised[0].Should().BeApproximately((float)(alpha + (sigma * alpha)), 1e-6f);
    }
}
