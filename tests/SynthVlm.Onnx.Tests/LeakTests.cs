using SynthVlm.Onnx.Builder;
using SynthVlm.Onnx.Native;
using Xunit.Abstractions;

namespace SynthVlm.Onnx.Tests;

[CollectionDefinition(nameof(LeakCollection), DisableParallelization = true)]
public sealed class LeakCollection;

/// <summary>
/// Creates and disposes many native objects; every one must be released. Runs alone so the
/// process-wide live-handle count and RSS are not disturbed by other tests.
/// </summary>
[Collection(nameof(LeakCollection))]
public sealed class LeakTests(ITestOutputHelper output)
{
    private static long RssBytes()
    {
        // /proc/self/statm: size resident shared ... in pages.
        var fields = File.ReadAllText("/proc/self/statm").Split(' ');
        return long.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) * Environment.SystemPageSize;
    }

    private static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    /// <summary>x [1, 512] · W [512, 512]: each session holds a 1 MiB weight, so leaked sessions show in RSS.</summary>
    private static byte[] WeightyModel()
    {
        var w = new float[512 * 512];
        for (var i = 0; i < w.Length; i++)
        {
            w[i] = (i % 7) - 3;
        }
        var m = new OnnxModelBuilder("weighty");
        var x = m.Input("x", TensorDataType.Float, 1, 512);
        m.Node("MatMul", [x, m.Initializer("W", w, 512, 512)], outputs: ["y"]);
        m.Output("y", TensorDataType.Float, 1, 512);
        return m.ToBytes();
    }

    private static void Churn(byte[] model, int sessions, int values)
    {
        var x = new float[512];
        for (var s = 0; s < sessions; s++)
        {
            using var session = InferenceSession.FromBytes(model);
            using var vx = OrtValue.FromArray(x, 1, 512);
            using var result = session.Run([new("x", vx)], ["y"]);
            using var binding = session.CreateIoBinding();
            binding.BindInput("x", vx);
            binding.BindOutputToDevice("y", ExecutionProvider.Cpu);
            binding.Run();
            using var bound = binding.GetOutputs();
        }
        for (var i = 0; i < values; i++)
        {
            // 256 KiB each: leaking these would add hundreds of MiB.
            using var owned = OrtValue.Allocate(TensorElementType.Float, 256, 256);
            owned.GetSpan<float>().Fill(i); // touch every page so a leak shows in RSS
            using var pinned = OrtValue.FromArray(new float[1024], 32, 32);
            using var options = new RunOptions();
        }
    }

    [Fact]
    public void Thousands_of_values_and_hundreds_of_sessions_release_everything()
    {
        var model = WeightyModel();
        // Warm up: ORT's arenas, thread pools and the JIT reach their steady size first.
        Churn(model, sessions: 50, values: 500);
        Settle();
        var before = RssBytes();

        Churn(model, sessions: 200, values: 3000);
        Settle();
        var after = RssBytes();

        output.WriteLine($"RSS before {before >> 20} MiB, after {after >> 20} MiB");
        OrtHandle.LiveCount.Should().Be(0, "every session, value, binding and run option was disposed");
        // Leaked sessions or 3000 leaked 256 KiB tensors would add far more than this; allocator
        // caching and heap fragmentation stay well under it.
        (after - before).Should().BeLessThan(64L << 20, $"RSS went from {before >> 20} MiB to {after >> 20} MiB");
    }

    [Fact]
    public void Undisposed_values_are_released_by_the_finalizer()
    {
        Settle();
        var baseline = OrtHandle.LiveCount;
        CreateAndDrop();
        OrtHandle.LiveCount.Should().Be(baseline + 100);
        Settle();
        OrtHandle.LiveCount.Should().Be(baseline);

        static void CreateAndDrop()
        {
            for (var i = 0; i < 100; i++)
            {
                _ = OrtValue.FromArray(new float[16], 4, 4);
            }
        }
    }
}
