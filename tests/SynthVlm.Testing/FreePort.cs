using System.Net;
using System.Net.Sockets;

namespace SynthVlm.Testing;

/// <summary>Finds free TCP ports on loopback for processes a test starts.</summary>
public static class FreePort
{
    // Below the kernel's ephemeral range (ip_local_port_range, 32768+ by default): a port the OS
    // handed out as "free" from that range can be taken a moment later by any outgoing connection
    // (Redis clients, HTTP calls) before the child process binds it.
    private const int First = 20000;
    private const int Last = 32000;
    private static int _next = First + (Environment.ProcessId * 97 % (Last - First));
    private static readonly Lock Gate = new();

    /// <summary>A port that was free on 127.0.0.1 a moment ago and was not handed out before by this process.</summary>
    public static int Next()
    {
        lock (Gate)
        {
            for (var attempt = 0; attempt < Last - First; attempt++)
            {
                var port = _next;
                _next = _next >= Last ? First : _next + 1;
                try
                {
                    using var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                    listener.Stop();
                    return port;
                }
                catch (SocketException)
                {
                    // Taken: try the next one.
                }
            }
        }
        using var fallback = new TcpListener(IPAddress.Loopback, 0);
        fallback.Start();
        var any = ((IPEndPoint)fallback.LocalEndpoint).Port;
        fallback.Stop();
        return any;
    }
}
