using Microsoft.Extensions.Logging;
using SynthVlm.Onnx.Builder;
using SynthVlm.Testing;

namespace SynthVlm.Onnx.Tests;

/// <summary>Loading from a path, from bytes, with external data, and concurrent runs.</summary>
public sealed class ModelSourceTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("synthvlm-ortmodel-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    private static OnnxModelBuilder LinearBuilder(float[] w, float[] b)
    {
        var m = new OnnxModelBuilder("linear_file");
        var x = m.Input("x", TensorDataType.Float, "batch", 3);
        var mm = m.Op("MatMul", x, m.Initializer("W", w, 3, 2));
        m.Node("Add", [mm, m.Initializer("B", b, 2)], outputs: ["y"]);
        m.Output("y", TensorDataType.Float, "batch", 2);
        return m;
    }

    private static readonly float[] W = [0.5f, -1f, 2f, 0.25f, -0.75f, 1.5f];
    private static readonly float[] B = [0.1f, -0.2f];
    private static readonly float[] X = [1, 2, 3, -4, 5, -6];

    private static void AssertLinear(InferenceSession session)
    {
        using var vx = OrtValue.FromArray(X, 2, 3);
        using var result = session.Run([new("x", vx)], ["y"]);
        var expected = TestModels.LinearReference(X, W, B);
        var actual = result[0].ToArray<float>();
        for (var i = 0; i < expected.Length; i++)
        {
            actual[i].Should().BeApproximately(expected[i], 1e-5f);
        }
    }

    [Fact]
    public void Load_from_path_reports_the_path()
    {
        var path = Path.Combine(_temp, "model.onnx");
        LinearBuilder(W, B).Save(path);
        using var session = InferenceSession.Load(path);
        session.ModelPath.Should().Be(path);
        AssertLinear(session);
    }

    [Fact]
    public void External_data_beside_the_model_is_read_when_loading_by_path()
    {
        var path = Path.Combine(_temp, "external.onnx");
        LinearBuilder(W, B).Save(path, externalDataThreshold: 16);
        File.Exists(path + "_data").Should().BeTrue("W (24 bytes) is over the 16-byte threshold");
        using var session = InferenceSession.Load(path);
        AssertLinear(session);
    }

    [Fact]
    public void External_data_with_FromBytes_needs_ExternalDataFolder()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_temp, "weights")).FullName;
        var path = Path.Combine(dir, "external.onnx");
        LinearBuilder(W, B).Save(path, externalDataThreshold: 16);
        var bytes = File.ReadAllBytes(path);

        using (var session = InferenceSession.FromBytes(bytes, new SessionOptions { ExternalDataFolder = dir }))
        {
            AssertLinear(session);
        }

        // Without the folder ORT looks in the working directory, where the data file is not.
        var act = () => InferenceSession.FromBytes(bytes);
        act.Should().Throw<OnnxRuntimeException>().WithMessage("*external.onnx_data*");
    }

    [Fact]
    public async Task Concurrent_runs_on_one_session_give_each_caller_its_own_result()
    {
        var (model, w, b) = TestModels.Linear();
        using var session = InferenceSession.FromBytes(model);
        var tasks = Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            var rng = new Random(t);
            for (var i = 0; i < 40; i++)
            {
                var batch = rng.Next(1, 9);
                var x = Enumerable.Range(0, batch * 3).Select(_ => (float)rng.NextDouble()).ToArray();
                using var vx = OrtValue.FromArray(x, batch, 3);
                using var result = session.Run([new("x", vx)], ["y"]);
                var expected = TestModels.LinearReference(x, w, b);
                var actual = result[0].ToArray<float>();
                for (var k = 0; k < expected.Length; k++)
                {
                    Math.Abs(actual[k] - expected[k]).Should().BeLessThan(1e-5f);
                }
            }
        }));
        await Task.WhenAll(tasks).WithTimeout();
    }

    [Fact]
    public void Ort_log_messages_reach_the_configured_logger()
    {
        var logger = new ListLogger();
        OnnxRuntime.Initialize(new OnnxRuntimeOptions { Logger = logger });
        // An initializer no node uses makes ORT warn that it removes it.
        var m = TestModels.AddBuilder();
        m.Initializer("unused_weight", [1f, 2f], 2);
        using var session = InferenceSession.FromBytes(m.ToBytes());
        logger.Entries.Should().Contain(e => e.Level == LogLevel.Warning && e.Message.Contains("unused_weight", StringComparison.Ordinal));
    }
}
