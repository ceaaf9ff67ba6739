namespace SynthVlm.Onnx.Builder.Tests;

public sealed class OpsTests
{
    [Theory]
    [InlineData(11)]
    [InlineData(13)]
    [InlineData(17)]
    [InlineData(18)]
    public void Axis_taking_operators_use_the_form_of_the_target_opset(long opset)
    {
        // Unsqueeze/Squeeze moved axes to an input in opset 13, ReduceL2/ReduceMean in 18;
        // ORT rejects the wrong form, so running the graph at each opset checks the choice.
        float[] x = [3, 4, 1, 2, 2, 1];
        var b = new OnnxModelBuilder("axes", opset);
        var input = b.Input("x", TensorDataType.Float, 2, 3);
        var unsq = b.Unsqueeze(input, 0);
        b.Identity(b.Squeeze(unsq, 0), "same");
        b.Identity(b.ReduceL2(input, false, 1), "norm");
        b.Identity(b.ReduceMean(input, false, 1), "mean");
        b.Identity(b.ReduceSum(input, false, 0), "sum");
        b.Output("same", TensorDataType.Float, 2, 3);
        b.Output("norm", TensorDataType.Float, 2);
        b.Output("mean", TensorDataType.Float, 2);
        b.Output("sum", TensorDataType.Float, 3);

        var y = OrtRun.Floats(b, [("x", x, [2, 3])], "same", "norm", "mean", "sum");

        y["same"].Values.Should().Equal(x);
        y["norm"].Values.ShouldBeClose([Math.Sqrt(26), 3], 1e-6, "ReduceL2");
        y["mean"].Values.ShouldBeClose([8 / 3.0, 5 / 3.0], 1e-6, "ReduceMean");
        y["sum"].Values.Should().Equal(5, 6, 2);
    }

    [Fact]
    public void Causal_and_padding_masks_have_the_documented_values()
    {
        var b = new OnnxModelBuilder("masks");
        var ids = b.Input("mask", TensorDataType.Int64, "batch", "seq");
        b.Identity(b.CausalMask(ids, 1), "causal");
        b.Identity(b.KeyPaddingMask(ids), "padding");
        b.Output("causal", TensorDataType.Float, "seq", "seq");
        b.Output("padding", TensorDataType.Float, "batch", 1, 1, "seq");

        var y = OrtRun.Floats(b, [("mask", new long[] { 1, 1, 0, 1, 0, 0 }, [2, 3])], "causal", "padding");

        const float M = Layers.MaskedScore;
        y["causal"].Shape.Should().Equal(3, 3);
        y["causal"].Values.Should().Equal(0, M, M, 0, 0, M, 0, 0, 0);
        y["padding"].Shape.Should().Equal(2, 1, 1, 3);
        y["padding"].Values.Should().Equal(0, 0, M, 0, M, M);
    }

    [Fact]
    public void Reductions_refuse_an_empty_axis_list()
    {
        var b = new OnnxModelBuilder("bad");
        var x = b.Input("x", TensorDataType.Float, 2);
        b.Invoking(m => m.ReduceL2(x, true)).Should().Throw<ArgumentException>().WithMessage("*at least one axis*");
    }

    [Fact]
    public void Weight_records_reject_inconsistent_shapes_with_clear_messages()
    {
        var act = () => new LinearWeights(3, 2, new float[5], null);
        act.Should().Throw<ArgumentException>().WithMessage("*5 values*[3, 2]*6*").Which.ParamName.Should().Be("weight");
        var g = new WeightGenerator(1);
        var sq = LinearWeights.Random(g, 4, 4, 1, null);
        var wide = LinearWeights.Random(g, 4, 6, 1, null);
        var attn = () => new AttentionWeights(sq, sq, wide, sq, 2);
        attn.Should().Throw<ArgumentException>().WithMessage("*'value'*[4, 6]*").Which.ParamName.Should().Be("value");
        var heads = () => new AttentionWeights(sq, sq, sq, sq, 3);
        heads.Should().Throw<ArgumentException>().WithMessage("*4*3 heads*");
        var mlp = () => new MlpWeights(wide, sq, Activation.Gelu);
        mlp.Should().Throw<ArgumentException>().WithMessage("*6 features*takes 4*");
        var ln = () => new LayerNormWeights(new float[3], new float[2]);
        ln.Should().Throw<ArgumentException>();
    }

    [Fact]
    public async Task Built_graphs_pass_the_onnx_checker_and_strict_shape_inference()
    {
        var g = new WeightGenerator(9);
        var b = new OnnxModelBuilder("check");
        var x = b.Input("x", TensorDataType.Float, "batch", "seq", 8);
        var mask = b.Input("mask", TensorDataType.Int64, "batch", "seq");
        var h = b.EncoderLayer(x, "l0", EncoderLayerWeights.Random(g, 8, 2, 16, Activation.Gelu, 1), b.CausalMask(x, 1), b.KeyPaddingMask(mask));
        b.Identity(b.L2Normalize(b.GatherPerRow(h, b.ArgMax(mask, 1))), "y");
        b.Output("y", TensorDataType.Float, "batch", 8);
        await OnnxChecker.CheckAsync(b.ToBytes());
    }
}
