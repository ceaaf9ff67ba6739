using Google.Protobuf.Reflection;

namespace SynthVlm.Rpc;

/// <summary>
/// A gRPC service implementation. The class declares public instance methods named like the
/// proto methods of <see cref="Descriptor"/>: unary
/// <c>Task&lt;TResponse&gt; Name(TRequest request, ServerCallContext context)</c> and server-streaming
/// <c>Task Name(TRequest request, IServerStreamWriter&lt;TResponse&gt; responses, ServerCallContext context)</c>.
/// Proto methods without such a method answer UNIMPLEMENTED.
/// </summary>
public interface IRpcService
{
    /// <summary>The proto service this class implements, e.g. <c>HealthReflection.Descriptor.Services[0]</c>.</summary>
    static abstract ServiceDescriptor Descriptor { get; }
}
