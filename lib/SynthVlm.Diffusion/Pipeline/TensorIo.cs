using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SynthVlm.Onnx;

namespace SynthVlm.Diffusion;

/// <summary>
/// Float data in and out of models whose float tensors may be float32 or float16 (optimum's
/// `--dtype fp16` makes every float input and output half precision): the pipeline computes in
/// float32 and converts at the model boundary, as the session metadata says.
/// </summary>
internal static class TensorIo
{
    /// <summary>A tensor of <paramref name="type"/> holding <paramref name="data"/>; float32 wraps the array without copying.</summary>
    public static OrtValue Input(float[] data, TensorElementType type, params long[] shape)
    {
        switch (type)
        {
            case TensorElementType.Float:
                return OrtValue.CreateTensorValueFromMemory(data, shape);
            case TensorElementType.Float16:
                var half = new Float16[data.Length];
                for (var i = 0; i < data.Length; i++)
                {
                    half[i] = (Float16)data[i];
                }
                return OrtValue.CreateTensorValueFromMemory(half, shape);
            case TensorElementType.Double:
                return OrtValue.CreateTensorValueFromMemory(Array.ConvertAll(data, v => (double)v), shape);
            default:
                throw new DiffusionException($"expected a float tensor, the model declares {OnnxModelDescription.TypeName(type)}");
        }
    }

    /// <summary>The tensor's shape.</summary>
    public static long[] Shape(OrtValue value) => value.GetTensorTypeAndShape().Shape;

    /// <summary>A float32 copy of a float32, float16 or float64 tensor.</summary>
    public static float[] Output(OrtValue value)
    {
        var type = value.GetTensorTypeAndShape().ElementDataType;
        switch (type)
        {
            case TensorElementType.Float:
                return value.GetTensorDataAsSpan<float>().ToArray();
            case TensorElementType.Float16:
                var half = value.GetTensorDataAsSpan<Float16>();
                var result = new float[half.Length];
                for (var i = 0; i < half.Length; i++)
                {
                    result[i] = (float)half[i];
                }
                return result;
            case TensorElementType.Double:
                var doubles = value.GetTensorDataAsSpan<double>();
                var floats = new float[doubles.Length];
                for (var i = 0; i < doubles.Length; i++)
                {
                    floats[i] = (float)doubles[i];
                }
                return floats;
            default:
                throw new DiffusionException($"expected a float output, got {OnnxModelDescription.TypeName(type)}");
        }
    }
}
