using SynthVlm.Onnx;

namespace SynthVlm.Diffusion;

/// <summary>
/// Float data in and out of models whose float tensors may be float32 or float16 (optimum's
/// `--dtype fp16` makes every float input and output half precision): the pipeline computes in
/// float32 and converts at the model boundary, as the session metadata says.
/// </summary>
internal static class TensorIo
{
    public static OrtValue Input(float[] data, TensorElementType type, params long[] shape)
    {
        switch (type)
        {
            case TensorElementType.Float:
                return OrtValue.FromArray(data, shape);
            case TensorElementType.Float16:
                var half = new Half[data.Length];
                for (var i = 0; i < data.Length; i++)
                {
                    half[i] = (Half)data[i];
                }
                return OrtValue.FromArray(half, shape);
            case TensorElementType.Double:
                return OrtValue.FromArray(Array.ConvertAll(data, v => (double)v), shape);
            default:
                throw new DiffusionException($"expected a float tensor, the model declares {OrtValue.TypeName(type)}");
        }
    }

    public static float[] Output(OrtValue value)
    {
        switch (value.ElementType)
        {
            case TensorElementType.Float:
                return value.ToArray<float>();
            case TensorElementType.Float16:
                var half = value.GetSpan<Half>();
                var result = new float[half.Length];
                for (var i = 0; i < half.Length; i++)
                {
                    result[i] = (float)half[i];
                }
                return result;
            case TensorElementType.Double:
                return Array.ConvertAll(value.ToArray<double>(), v => (float)v);
            default:
                throw new DiffusionException($"expected a float output, got {OrtValue.TypeName(value.ElementType)}");
        }
    }
}
