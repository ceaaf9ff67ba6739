using Microsoft.ML.OnnxRuntime;

namespace SynthVlm.Onnx;

/// <summary>
/// Runs that a <see cref="CancellationToken"/> can stop while ONNX Runtime is computing: the token
/// sets <see cref="RunOptions.Terminate"/>, and the run's failure becomes an
/// <see cref="OperationCanceledException"/> carrying the token (ONNX Runtime's error as the inner exception).
/// </summary>
public static class OnnxRuns
{
    /// <summary>Runs <paramref name="session"/> and returns the outputs named (the caller disposes them).</summary>
    /// <exception cref="OperationCanceledException">The token was cancelled before or during the run.</exception>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime failed the run.</exception>
    public static IDisposableReadOnlyCollection<OrtValue> Run(this InferenceSession session, IReadOnlyDictionary<string, OrtValue> inputs,
        IReadOnlyCollection<string> outputNames, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputNames);
        return Cancellable(cancellationToken, options => session.Run(options, inputs, outputNames));
    }

    /// <summary>Runs <paramref name="session"/> with <paramref name="binding"/> (outputs stay in the binding).</summary>
    /// <inheritdoc cref="Run(InferenceSession, IReadOnlyDictionary{string, OrtValue}, IReadOnlyCollection{string}, CancellationToken)"/>
    public static void RunWithBinding(this InferenceSession session, OrtIoBinding binding, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(binding);
        Cancellable(cancellationToken, options =>
        {
            session.RunWithBinding(options, binding);
            return true;
        });
    }

    private static T Cancellable<T>(CancellationToken cancellationToken, Func<RunOptions, T> run)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var options = new RunOptions();
        if (!cancellationToken.CanBeCanceled)
        {
            return run(options);
        }
        using var registration = cancellationToken.Register(static o => ((RunOptions)o!).Terminate = true, options);
        try
        {
            return run(options);
        }
        catch (OnnxRuntimeException e) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("The ONNX Runtime run was cancelled (RunOptions.Terminate).", e, cancellationToken);
        }
    }
}
