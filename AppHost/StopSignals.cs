using System.Runtime.InteropServices;

namespace SynthVlm.AppHost;

/// <summary>
/// Ctrl+C (SIGINT) and SIGTERM call <c>onSignal</c> instead of ending the process, so the AppHost
/// can cancel a run and stop its children in order. Every signal calls it, so a caller can give a
/// second Ctrl+C its own meaning.
/// </summary>
internal sealed class StopSignals : IDisposable
{
    private readonly PosixSignalRegistration _sigint;
    private readonly PosixSignalRegistration _sigterm;

    public StopSignals(Action onSignal)
    {
        ArgumentNullException.ThrowIfNull(onSignal);
        void Handle(PosixSignalContext context)
        {
            context.Cancel = true;
            onSignal();
        }
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle);
    }

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
    }
}
