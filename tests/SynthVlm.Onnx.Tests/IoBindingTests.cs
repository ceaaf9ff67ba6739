namespace SynthVlm.Onnx.Tests;

public sealed class IoBindingTests
{
    [Fact]
    public void Bound_buffers_are_reused_across_runs_without_rebinding()
    {
        var (model, w, b) = TestModels.Linear();
        using var session = InferenceSession.FromBytes(model);
        var x = new float[] { 1, 2, 3, 4, 5, 6 };
        var y = new float[4];
        using var vx = OrtValue.FromArray(x, 2, 3);
        using var vy = OrtValue.FromArray(y, 2, 2);
        using var binding = session.CreateIoBinding();
        binding.BindInput("x", vx);
        binding.BindOutput("y", vy);
        for (var run = 0; run < 5; run++)
        {
            // The input array is pinned and wrapped without a copy: editing it changes the next run's input.
            for (var i = 0; i < x.Length; i++)
            {
                x[i] = (run * 10) + i - 3;
            }
            binding.Run();
            var expected = TestModels.LinearReference(x, w, b);
            for (var i = 0; i < y.Length; i++)
            {
                // ORT wrote straight into the bound output array.
                y[i].Should().BeApproximately(expected[i], 1e-5f);
            }
        }
        using var outputs = binding.GetOutputs();
        outputs.Names.Should().Equal("y");
        outputs[0].ToArray<float>().Should().Equal(y);
    }

    [Fact]
    public void Output_bound_to_cpu_device_is_allocated_by_ORT_each_run()
    {
        using var session = InferenceSession.FromBytes(TestModels.AddBuilder().ToBytes());
        using var a = OrtValue.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        using var b = OrtValue.FromArray(new float[] { 6, 5, 4, 3, 2, 1 }, 2, 3);
        using var binding = session.CreateIoBinding();
        binding.BindInput("a", a);
        binding.BindInput("b", b);
        binding.BindOutputToDevice("z", ExecutionProvider.Cpu);
        binding.Run();
        using (var first = binding.GetOutputs())
        {
            first["z"].ToArray<float>().Should().AllBeEquivalentTo(7f);
        }
        a.GetSpan<float>().Fill(0);
        binding.Run();
        using var second = binding.GetOutputs();
        second["z"].ToArray<float>().Should().Equal(6, 5, 4, 3, 2, 1);
    }

    [Fact]
    public void Cleared_inputs_make_the_run_fail_and_rebinding_recovers()
    {
        using var session = InferenceSession.FromBytes(TestModels.AddBuilder().ToBytes());
        using var a = OrtValue.FromArray(new float[6], 2, 3);
        using var binding = session.CreateIoBinding();
        binding.BindInput("a", a);
        binding.BindInput("b", a);
        binding.BindOutputToDevice("z", ExecutionProvider.Cpu);
        binding.ClearInputs();
        var act = () => binding.Run();
        act.Should().Throw<OnnxRuntimeException>();
        binding.BindInput("a", a);
        binding.BindInput("b", a);
        binding.Run();
        using var outputs = binding.GetOutputs();
        outputs.Should().ContainSingle();
        binding.ClearOutputs();
        using var none = binding.GetOutputs();
        none.Should().BeEmpty();
    }

    [Fact]
    public void Binding_checks_names_and_types_like_Run()
    {
        using var session = InferenceSession.FromBytes(TestModels.AddBuilder().ToBytes());
        using var binding = session.CreateIoBinding();
        using var ints = OrtValue.FromArray(new int[6], 2, 3);
        var wrongType = () => binding.BindInput("a", ints);
        wrongType.Should().Throw<ArgumentException>().WithMessage("input 'a' of model * expects float32 [2, 3], got int32 [2, 3]*");
        var unknown = () => binding.BindOutput("nope", ints);
        unknown.Should().Throw<ArgumentException>().WithMessage("*has no output 'nope'*");
    }

    [Fact]
    public void A_value_disposed_while_bound_stays_valid_until_unbound()
    {
        using var session = InferenceSession.FromBytes(TestModels.AddBuilder().ToBytes());
        using var binding = session.CreateIoBinding();
        var a = OrtValue.FromArray(new float[] { 1, 1, 1, 1, 1, 1 }, 2, 3);
        binding.BindInput("a", a);
        binding.BindInput("b", a);
        binding.BindOutputToDevice("z", ExecutionProvider.Cpu);
        // The binding holds a reference, so the native value (and the pin) outlive this Dispose.
        a.Dispose();
        binding.Run();
        using var outputs = binding.GetOutputs();
        outputs[0].ToArray<float>().Should().AllBeEquivalentTo(2f);
    }
}
