using Microsoft.ML.OnnxRuntime;

namespace SynthVlm.Diffusion.Tests;

/// <summary>Test shorthand over ONNX Runtime's managed API: tensors from arrays, a run that returns outputs by name.</summary>
internal static class OrtTestExtensions
{
    /// <summary>A tensor over <paramref name="data"/> (no copy) with <paramref name="shape"/>; no shape means rank 0.</summary>
    public static OrtValue Tensor<T>(T[] data, params long[] shape)
        where T : unmanaged => OrtValue.CreateTensorValueFromMemory(data, shape);

    extension(OrtValue value)
    {
        /// <summary>The tensor's shape.</summary>
        public long[] Shape => value.GetTensorTypeAndShape().Shape;
    }

    /// <summary>A copy of the tensor's elements.</summary>
    public static T[] ToArray<T>(this OrtValue value)
        where T : unmanaged => value.GetTensorDataAsSpan<T>().ToArray();

    /// <summary>The tensor's elements, writable in place.</summary>
    public static Span<T> GetSpan<T>(this OrtValue value)
        where T : unmanaged => value.GetTensorMutableDataAsSpan<T>();

    /// <summary>Runs with the given inputs and returns every output (or those named), by name.</summary>
    public static NamedOutputs RunAll(this InferenceSession session, params (string Name, OrtValue Value)[] inputs) =>
        session.RunNamed(session.OutputNames.ToArray(), inputs);

    /// <summary>Runs with the given inputs and returns the outputs named, by name.</summary>
    public static NamedOutputs RunNamed(this InferenceSession session, string[] outputs, params (string Name, OrtValue Value)[] inputs)
    {
        using var options = new RunOptions();
        var values = session.Run(options, inputs.ToDictionary(i => i.Name, i => i.Value, StringComparer.Ordinal), outputs);
        return new NamedOutputs(outputs, values);
    }

    /// <summary>Run outputs by name and position; disposing releases them.</summary>
    internal sealed class NamedOutputs(string[] names, IDisposableReadOnlyCollection<OrtValue> values) : IDisposable
    {
        public OrtValue this[string name] => values[Array.IndexOf(names, name) is >= 0 and var i ? i : throw new KeyNotFoundException(name)];

        public OrtValue this[int index] => values[index];

        public void Dispose() => values.Dispose();
    }
}
