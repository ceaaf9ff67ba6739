using Google.Protobuf.Reflection;

namespace SynthVlm.Rpc.Tests;

internal static class TestMethods
{
    public static ServiceDescriptor Service { get; } = TestServiceImpl.Descriptor;

    public static MethodDescriptor Echo { get; } = Service.FindMethodByName("Echo");

    public static MethodDescriptor Stream { get; } = Service.FindMethodByName("Stream");

    public static MethodDescriptor Slow { get; } = Service.FindMethodByName("Slow");

    public static MethodDescriptor Fail { get; } = Service.FindMethodByName("Fail");

    public static MethodDescriptor EchoHeaders { get; } = Service.FindMethodByName("EchoHeaders");

    public static MethodDescriptor Big { get; } = Service.FindMethodByName("Big");

    public static MethodDescriptor Reset { get; } = Service.FindMethodByName("Reset");

    public static MethodDescriptor Missing { get; } = Service.FindMethodByName("Missing");

    public static string Path(MethodDescriptor method) => $"/{method.Service.FullName}/{method.Name}";
}
