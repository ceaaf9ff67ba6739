using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace SynthVlm.Rpc;

/// <summary>Maps gRPC services onto ASP.NET Core endpoints.</summary>
public static class RpcEndpointRouteBuilderExtensions
{
    private const string LoggerCategory = "SynthVlm.Rpc.Server";

    /// <summary>
    /// Maps every method of <typeparamref name="TService"/>'s descriptor to <c>POST /{package.Service}/{Method}</c>.
    /// The instance comes from DI when <typeparamref name="TService"/> is registered (any lifetime, resolved from the
    /// request scope); otherwise one is created per call with <see cref="ActivatorUtilities"/> and disposed after it,
    /// as grpc-dotnet does. Method signatures are checked here, so a mismatch fails at startup.
    /// </summary>
    /// <exception cref="InvalidOperationException">A handler's signature does not match its proto method, or AddRpc was not called.</exception>
    public static IEndpointConventionBuilder MapRpcService<TService>(this IEndpointRouteBuilder endpoints)
        where TService : class, IRpcService
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var services = endpoints.ServiceProvider;
        var registry = services.GetService<RpcServiceRegistry>()
            ?? throw new InvalidOperationException("Call services.AddRpc() before MapRpcService<T>().");
        var settings = CreateSettings(services);
        var descriptor = TService.Descriptor;
        if (!registry.TryAdd(descriptor.FullName))
        {
            throw new InvalidOperationException($"gRPC service {descriptor.FullName} is already mapped; map each service once (here: {typeof(TService).FullName}).");
        }

        Func<IServiceProvider, TService> factory;
        bool dispose;
        if (services.GetService<IServiceProviderIsService>()?.IsService(typeof(TService)) == true)
        {
            factory = static sp => sp.GetRequiredService<TService>();
            dispose = false;
        }
        else
        {
            var objectFactory = ActivatorUtilities.CreateFactory<TService>(Type.EmptyTypes);
            factory = sp => objectFactory(sp, null);
            dispose = true;
        }

        var builders = new List<IEndpointConventionBuilder>();
        foreach (var method in descriptor.Methods)
        {
            var pattern = $"/{descriptor.FullName}/{method.Name}";
            // Client-streaming and bidi methods are not supported yet: they answer UNIMPLEMENTED like a missing handler.
            var handler = method.IsClientStreaming
                ? null
                : RpcServiceBinder.Bind(method, settings, factory, dispose);
            handler ??= UnimplementedMethod(pattern, settings);
            builders.Add(endpoints.MapPost(pattern, handler).WithDisplayName($"gRPC - {pattern}"));
        }
        return new CompositeConventionBuilder(builders);
    }

    /// <summary>
    /// Answers any other POST with a gRPC content type with Trailers-Only UNIMPLEMENTED naming the
    /// service or method; other requests fall through to 404. Map it after the services.
    /// </summary>
    public static IEndpointConventionBuilder MapRpcFallback(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var services = endpoints.ServiceProvider;
        var registry = services.GetService<RpcServiceRegistry>()
            ?? throw new InvalidOperationException("Call services.AddRpc() before MapRpcFallback().");
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(LoggerCategory);
        return endpoints.MapPost("/{**rpcPath}", http =>
        {
            var path = http.Request.Path.Value ?? "/";
            if (!GrpcProtocol.IsGrpcContentType(http.Request.ContentType))
            {
                http.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }
            RpcServerLog.UnknownMethod(logger, path);
            var slash = path.IndexOf('/', 1);
            var service = slash > 1 ? path[1..slash] : path.TrimStart('/');
            var detail = registry.Contains(service)
                ? $"Method is unimplemented: {path}"
                : $"Service is unimplemented: '{service}' (method {path})";
            ServerCallPreamble.WriteTrailersOnly(http, new RpcStatus(RpcStatusCode.Unimplemented, detail), null);
            return Task.CompletedTask;
        }).WithDisplayName("gRPC - unimplemented fallback");
    }

    private static ServerMethodSettings CreateSettings(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<RpcServerOptions>>().Value;
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(LoggerCategory);
        return new ServerMethodSettings(options, logger);
    }

    private static RequestDelegate UnimplementedMethod(string pattern, ServerMethodSettings settings) => http =>
    {
        if (ServerCallPreamble.TryAccept(http, out _, out var rejection) || rejection is not null)
        {
            RpcServerLog.UnknownMethod(settings.Logger, pattern);
            ServerCallPreamble.WriteTrailersOnly(http, new RpcStatus(RpcStatusCode.Unimplemented, $"Method is unimplemented: {pattern}"), null);
        }
        return Task.CompletedTask;
    };

    private sealed class CompositeConventionBuilder(List<IEndpointConventionBuilder> builders) : IEndpointConventionBuilder
    {
        public void Add(Action<EndpointBuilder> convention)
        {
            foreach (var builder in builders)
            {
                builder.Add(convention);
            }
        }

        public void Finally(Action<EndpointBuilder> finallyConvention)
        {
            foreach (var builder in builders)
            {
                builder.Finally(finallyConvention);
            }
        }
    }
}
