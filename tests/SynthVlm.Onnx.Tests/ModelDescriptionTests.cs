using Microsoft.ML.OnnxRuntime.Tensors;
using SynthVlm.Onnx.Builder;

namespace SynthVlm.Onnx.Tests;

/// <summary>The texts the Clip and Diffusion contract checks put in their errors.</summary>
public sealed class ModelDescriptionTests
{
    [Fact]
    public void Inputs_and_outputs_read_as_name_type_and_shape_with_dynamic_axes_by_name()
    {
        var b = new OnnxModelBuilder("described");
        var ids = b.Input("input_ids", TensorDataType.Int64, "text_batch_size", "sequence_length");
        var pixels = b.Input("pixel_values", TensorDataType.Float, "image_batch_size", 3, 4, 4);
        b.Node("Identity", [ids], outputs: ["ids_out"]);
        b.Node("Identity", [pixels], outputs: ["pixels_out"]);
        b.Output("ids_out", TensorDataType.Int64, "text_batch_size", "sequence_length");
        b.Output("pixels_out", TensorDataType.Float, "image_batch_size", 3, 4, 4);
        using var session = OnnxSessions.FromBytes(b.ToBytes());

        OnnxModelDescription.Inputs(session).Should().Equal(
            "input_ids: int64 [text_batch_size, sequence_length]", "pixel_values: float32 [image_batch_size, 3, 4, 4]");
        OnnxModelDescription.Outputs(session).Should().Equal(
            "ids_out: int64 [text_batch_size, sequence_length]", "pixels_out: float32 [image_batch_size, 3, 4, 4]");
    }

    [Fact]
    public void Values_and_type_names_follow_onnx()
    {
        using var value = TestModels.Tensor([1, 2, 3, 4, 5, 6], 2, 3);
        OnnxModelDescription.Describe(value).Should().Be("float32 [2, 3]");
        OnnxModelDescription.TypeName(TensorElementType.Float16).Should().Be("float16");
        OnnxModelDescription.TypeName(TensorElementType.Int32).Should().Be("int32");
        OnnxModelDescription.TypeName(TensorElementType.Double).Should().Be("float64");
    }
}
