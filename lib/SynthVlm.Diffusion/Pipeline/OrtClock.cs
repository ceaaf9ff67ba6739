using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using SynthVlm.Onnx;

namespace SynthVlm.Diffusion;

/// <summary>Time spent inside ONNX Runtime's Run, to show what a pipeline itself costs beside it.</summary>
internal sealed class OrtClock
{
    private long _ticks;

    /// <summary>Milliseconds spent in ONNX Runtime so far.</summary>
    public double Milliseconds => _ticks * 1000.0 / Stopwatch.Frequency;

    /// <summary>Runs the session and returns its outputs (the caller disposes them).</summary>
    public IDisposableReadOnlyCollection<OrtValue> Run(InferenceSession session, IReadOnlyDictionary<string, OrtValue> inputs, IReadOnlyCollection<string> outputs, CancellationToken ct)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            return session.Run(inputs, outputs, ct);
        }
        finally
        {
            _ticks += Stopwatch.GetTimestamp() - start;
        }
    }

    /// <summary>Runs with the binding and returns its outputs (the caller disposes them).</summary>
    public IDisposableReadOnlyCollection<OrtValue> RunWithBinding(InferenceSession session, OrtIoBinding binding, CancellationToken ct)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            session.RunWithBinding(binding, ct);
            return binding.GetOutputValues();
        }
        finally
        {
            _ticks += Stopwatch.GetTimestamp() - start;
        }
    }
}
