using System.Reflection;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Microsoft.AspNetCore.Http;

namespace SynthVlm.Rpc;

/// <summary>Turns a service class and its proto descriptor into one request delegate per method, once, at map time.</summary>
internal static class RpcServiceBinder
{
    private static readonly MethodInfo BindUnaryMethod =
        typeof(RpcServiceBinder).GetMethod(nameof(BindUnary), BindingFlags.NonPublic | BindingFlags.Static)!;

    private static readonly MethodInfo BindServerStreamingMethod =
        typeof(RpcServiceBinder).GetMethod(nameof(BindServerStreaming), BindingFlags.NonPublic | BindingFlags.Static)!;

    /// <summary>The delegate for <paramref name="method"/>, or null when <typeparamref name="TService"/> does not implement it.</summary>
    /// <exception cref="InvalidOperationException">A C# method with the proto method's name has the wrong signature.</exception>
    public static RequestDelegate? Bind<TService>(MethodDescriptor method, ServerMethodSettings settings, Func<IServiceProvider, TService> factory, bool disposeService)
        where TService : class
    {
        var candidates = typeof(TService)
            .GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => m.Name == method.Name)
            .ToArray();
        if (candidates.Length == 0)
        {
            return null;
        }
        var requestType = method.InputType.ClrType;
        var responseType = method.OutputType.ClrType;
        var fullName = $"/{method.Service.FullName}/{method.Name}";
        if (requestType is null || responseType is null)
        {
            throw new InvalidOperationException($"gRPC method {fullName} has no generated C# message types; compile its .proto with protoc.");
        }
        Type[] expectedParameters = method.IsServerStreaming
            ? [requestType, typeof(IServerStreamWriter<>).MakeGenericType(responseType), typeof(ServerCallContext)]
            : [requestType, typeof(ServerCallContext)];
        var expectedReturn = method.IsServerStreaming ? typeof(Task) : typeof(Task<>).MakeGenericType(responseType);
        var match = candidates.FirstOrDefault(m =>
            m.ReturnType == expectedReturn
            && !m.IsGenericMethodDefinition
            && m.GetParameters().Select(p => p.ParameterType).SequenceEqual(expectedParameters));
        if (match is null || candidates.Length > 1)
        {
            var expected = $"{Display(expectedReturn)} {method.Name}({string.Join(", ", expectedParameters.Select(Display))})";
            var found = string.Join("; ", candidates.Select(m =>
                $"{Display(m.ReturnType)} {m.Name}({string.Join(", ", m.GetParameters().Select(p => Display(p.ParameterType)))})"));
            throw new InvalidOperationException(
                $"Cannot bind gRPC method {fullName} to {typeof(TService).FullName}.{method.Name}: expected exactly one public method '{expected}' but found '{found}'.");
        }

        var binder = (method.IsServerStreaming ? BindServerStreamingMethod : BindUnaryMethod)
            .MakeGenericMethod(typeof(TService), requestType, responseType);
        return (RequestDelegate)binder.Invoke(null, [match, method, settings, factory, disposeService])!;
    }

    private static RequestDelegate BindUnary<TService, TRequest, TResponse>(MethodInfo match, MethodDescriptor method, ServerMethodSettings settings, Func<IServiceProvider, TService> factory, bool disposeService)
        where TService : class
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        var handler = match.CreateDelegate<Func<TService, TRequest, ServerCallContext, Task<TResponse>>>();
        return new UnaryServerMethod<TService, TRequest, TResponse>(settings, method, factory, disposeService, handler).HandleAsync;
    }

    private static RequestDelegate BindServerStreaming<TService, TRequest, TResponse>(MethodInfo match, MethodDescriptor method, ServerMethodSettings settings, Func<IServiceProvider, TService> factory, bool disposeService)
        where TService : class
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse>
    {
        var handler = match.CreateDelegate<Func<TService, TRequest, IServerStreamWriter<TResponse>, ServerCallContext, Task>>();
        return new ServerStreamingServerMethod<TService, TRequest, TResponse>(settings, method, factory, disposeService, handler).HandleAsync;
    }

    private static string Display(Type type)
    {
        if (!type.IsGenericType)
        {
            return type.Name;
        }
        var name = type.Name[..type.Name.IndexOf('`', StringComparison.Ordinal)];
        return $"{name}<{string.Join(", ", type.GetGenericArguments().Select(Display))}>";
    }
}
