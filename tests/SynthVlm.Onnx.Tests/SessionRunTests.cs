using SynthVlm.Testing;

namespace SynthVlm.Onnx.Tests;

public sealed class SessionRunTests
{
    [Fact]
    public void Add_graph_matches_elementwise_sum()
    {
        using var session = InferenceSession.FromBytes(TestModels.AddBuilder().ToBytes());
        float[] a = [1, 2, 3, 4, 5, 6];
        float[] b = [0.5f, -2, 10, 0, -4.25f, 1e-3f];
        using var va = OrtValue.FromArray(a, 2, 3);
        using var vb = OrtValue.FromArray(b, 2, 3);
        using var result = session.Run([new("a", va), new("b", vb)], ["z"]);
        var z = result["z"];
        z.ElementType.Should().Be(TensorElementType.Float);
        z.Shape.Should().Equal(2, 3);
        // Float addition is exact to the bit, so ORT and C# must agree exactly.
        z.ToArray<float>().Should().Equal(a.Zip(b, (p, q) => p + q));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(17)]
    public void MatMul_add_with_dynamic_batch_matches_reference(int batch)
    {
        var (model, w, b) = TestModels.Linear();
        using var session = InferenceSession.FromBytes(model);
        var x = new float[batch * 3];
        var rng = new Random(42 + batch);
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = (float)((rng.NextDouble() * 4) - 2);
        }
        using var vx = OrtValue.FromArray(x, batch, 3);
        using var result = session.Run([new("x", vx)], ["y"]);
        result[0].Shape.Should().Equal(batch, 2);
        var expected = TestModels.LinearReference(x, w, b);
        var actual = result[0].GetSpan<float>().ToArray();
        // Three-term dot products: ORT's kernel may sum in another order or use FMA; 1e-5 bounds that.
        for (var i = 0; i < expected.Length; i++)
        {
            actual[i].Should().BeApproximately(expected[i], 1e-5f);
        }
    }

    [Fact]
    public void Metadata_reports_names_types_dynamic_dims_and_symbols()
    {
        var (model, _, _) = TestModels.Linear("image_batch_size");
        using var session = InferenceSession.FromBytes(model);
        session.Inputs.Should().HaveCount(1);
        var x = session.Inputs[0];
        x.Name.Should().Be("x");
        x.ElementType.Should().Be(TensorElementType.Float);
        x.Dimensions.Should().Equal(-1, 3);
        x.SymbolicDimensions.Should().Equal("image_batch_size", "");
        x.ToString().Should().Be("x: float32 [image_batch_size, 3]");
        session.Outputs.Should().ContainSingle().Which.Name.Should().Be("y");
        session.Outputs[0].Dimensions.Should().Equal(-1, 2);
        session.Provider.Should().Be(ExecutionProvider.Cpu);
        session.ModelPath.Should().Contain("in-memory");
    }

    [Fact]
    public void Empty_batch_runs_and_gives_an_empty_output()
    {
        using var session = InferenceSession.FromBytes(TestModels.Linear().Model);
        using var x = OrtValue.FromArray(Array.Empty<float>(), 0, 3);
        x.ElementCount.Should().Be(0);
        using var result = session.Run([new("x", x)]);
        result["y"].Shape.Should().Equal(0, 2);
        result["y"].GetSpan<float>().Length.Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_returns_the_same_as_Run()
    {
        var (model, w, b) = TestModels.Linear();
        using var session = InferenceSession.FromBytes(model);
        float[] x = [3, -1, 0.5f];
        using var vx = OrtValue.FromArray(x, 1, 3);
        using var result = await session.RunAsync([new("x", vx)], ["y"], TestTimeout.Token()).WithTimeout();
        result.Names.Should().Equal("y");
        var expected = TestModels.LinearReference(x, w, b);
        result[0].ToArray<float>().Should().BeEquivalentTo(expected, o => o.Using<float>(c => c.Subject.Should().BeApproximately(c.Expectation, 1e-5f)).WhenTypeIs<float>());
    }

    [Fact]
    public void Run_without_output_names_returns_every_output_in_model_order()
    {
        var m = TestModels.AddBuilder();
        m.Node("Mul", ["a", "b"], outputs: ["p"]);
        m.Output("p", SynthVlm.Onnx.Builder.TensorDataType.Float, 2, 3);
        using var session = InferenceSession.FromBytes(m.ToBytes());
        using var a = OrtValue.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        using var result = session.Run([new("a", a), new("b", a)]);
        result.Names.Should().Equal("z", "p");
        result["p"].ToArray<float>().Should().Equal(1, 4, 9, 16, 25, 36);
        using var reversed = session.Run([new("a", a), new("b", a)], ["p", "z"]);
        reversed[0].ToArray<float>().Should().Equal(1, 4, 9, 16, 25, 36);
    }

    [Fact]
    public void Runtime_reports_version_library_and_providers()
    {
        OnnxRuntime.Version.Should().StartWith("1.");
        File.Exists(OnnxRuntime.LibraryPath).Should().BeTrue();
        OnnxRuntime.AvailableProviders.Should().Contain("CPUExecutionProvider");
    }
}
