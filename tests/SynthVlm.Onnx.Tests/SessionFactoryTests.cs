using Microsoft.Extensions.Logging;
using SynthVlm.Onnx.Builder;

namespace SynthVlm.Onnx.Tests;

/// <summary>OnnxSessions applies SynthVlm's settings to real ONNX Runtime sessions of models built here.</summary>
public sealed class SessionFactoryTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("synthvlm-onnx-tests-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Cpu_session_from_a_file_runs_the_model_and_reports_the_cpu()
    {
        var (model, w, b) = TestModels.Linear();
        var path = Path.Combine(_dir.FullName, "linear.onnx");
        File.WriteAllBytes(path, model);
        var logger = new ListLogger();
        var settings = new OnnxSessionSettings { IntraOpThreads = 1, InterOpThreads = 1, OptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL, EnableMemoryArena = false, Logger = logger };

        using var session = OnnxSessions.Load(path, settings, out var provider);

        provider.Should().Be(ExecutionProvider.Cpu);
        float[] x = [1, 2, 3, -1, 0.5f, 4];
        using var input = TestModels.Tensor(x, 2, 3);
        TestModels.RunFirst(session, new() { ["x"] = input }, "y").Should().Equal(TestModels.LinearReference(x, w, b));
        logger.Entries.Should().ContainSingle(e => e.Level == LogLevel.Debug && e.Message.Contains(path, StringComparison.Ordinal) && e.Message.Contains("Cpu", StringComparison.Ordinal));
        logger.Entries.Should().NotContain(e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public void Model_bytes_read_external_data_from_the_configured_folder()
    {
        var (_, w, b) = TestModels.Linear();
        var builder = new OnnxModelBuilder("external");
        var xIn = builder.Input("x", TensorDataType.Float, "batch_size", 3);
        var y = builder.Op("Add", builder.Op("MatMul", xIn, builder.Initializer("W", w, 3, 2)), builder.Initializer("B", b, 2));
        builder.Node("Identity", [y], outputs: ["y"]);
        builder.Output("y", TensorDataType.Float, "batch_size", 2);
        var path = Path.Combine(_dir.FullName, "model.onnx");
        builder.Save(path, externalDataThreshold: 1);
        File.Exists(path + "_data").Should().BeTrue("the weights must live in the external file for this test to mean anything");
        var bytes = File.ReadAllBytes(path);

        using var session = OnnxSessions.FromBytes(bytes, new OnnxSessionSettings { ExternalDataFolder = _dir.FullName });
        float[] x = [0.25f, -2, 1];
        using var input = TestModels.Tensor(x, 1, 3);
        TestModels.RunFirst(session, new() { ["x"] = input }, "y").Should().Equal(TestModels.LinearReference(x, w, b));

        // Without the folder ONNX Runtime cannot find model.onnx_data: its own error, from the package.
        var elsewhere = Directory.CreateTempSubdirectory("synthvlm-onnx-empty-");
        try
        {
            var act = () => OnnxSessions.FromBytes(bytes, new OnnxSessionSettings { ExternalDataFolder = elsewhere.FullName });
            act.Should().Throw<OnnxRuntimeException>();
        }
        finally
        {
            elsewhere.Delete(recursive: true);
        }
    }

    [Fact]
    public void Bad_settings_and_bad_models_fail_with_the_setting_or_the_file_named()
    {
        var negative = () => OnnxSessions.FromBytes(TestModels.AddBuilder().ToBytes(), new OnnxSessionSettings { IntraOpThreads = -1 });
        negative.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*IntraOpThreads*");

        var missing = Path.Combine(_dir.FullName, "absent", "model.onnx");
        var load = () => OnnxSessions.Load(missing);
        load.Should().Throw<OnnxRuntimeException>().Which.Message.Should().Contain(missing);

        var garbage = () => OnnxSessions.FromBytes("not a model"u8.ToArray());
        garbage.Should().Throw<OnnxRuntimeException>();
        var empty = () => OnnxSessions.FromBytes([]);
        empty.Should().Throw<ArgumentException>().WithMessage("*empty*");
    }
}

/// <summary>Collects log entries (a real ILogger, not a mock).</summary>
internal sealed class ListLogger : ILogger
{
    private readonly List<(LogLevel Level, string Message)> _entries = [];

    public IReadOnlyList<(LogLevel Level, string Message)> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_entries)
        {
            _entries.Add((logLevel, formatter(state, exception)));
        }
    }
}
