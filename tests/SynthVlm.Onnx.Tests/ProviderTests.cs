using Microsoft.Extensions.Logging;

namespace SynthVlm.Onnx.Tests;

public sealed class ProviderTests
{
    /// <summary>The CUDA provider needs its libraries beside libonnxruntime (the npm build ships none).</summary>
    private static bool CudaLibrariesPresent =>
        File.Exists(Path.Combine(Path.GetDirectoryName(OnnxRuntime.LibraryPath)!, "libonnxruntime_providers_cuda.so"));

    [Fact]
    public void Cuda_without_provider_libraries_is_a_clear_error()
    {
        var model = TestModels.AddBuilder().ToBytes();
        var options = new SessionOptions { Provider = ExecutionProvider.Cuda, Fallback = ProviderFallback.Error };
        if (CudaLibrariesPresent)
        {
            // A GPU node: either it works or the message is the same clear one.
            try
            {
                using var session = InferenceSession.FromBytes(model, options);
                session.Provider.Should().Be(ExecutionProvider.Cuda);
            }
            catch (OnnxRuntimeException e)
            {
                e.Message.Should().Contain("CUDA");
            }
            return;
        }
        var act = () => InferenceSession.FromBytes(model, options);
        var error = act.Should().Throw<OnnxRuntimeException>().Which;
        error.Message.Should().StartWith($"CUDA execution provider is not available in {OnnxRuntime.LibraryPath}: ");
        error.Message.Should().Contain("Fallback = FallbackToCpu");
        error.Code.Should().NotBe(OrtErrorCode.Ok);
    }

    [Fact]
    public void Cuda_with_fallback_runs_on_cpu_and_logs_a_warning()
    {
        var logger = new ListLogger();
        var options = new SessionOptions { Provider = ExecutionProvider.Cuda, Fallback = ProviderFallback.FallbackToCpu, Logger = logger };
        using var session = InferenceSession.FromBytes(TestModels.AddBuilder().ToBytes(), options);
        using var a = OrtValue.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        using var result = session.Run([new("a", a), new("b", a)], ["z"]);
        result[0].ToArray<float>().Should().Equal(2, 4, 6, 8, 10, 12);
        if (!CudaLibrariesPresent)
        {
            session.Provider.Should().Be(ExecutionProvider.Cpu);
            logger.Entries.Should().Contain(e => e.Level == LogLevel.Warning && e.Message.Contains("running on the CPU instead", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void Session_options_are_applied()
    {
        var options = new SessionOptions
        {
            IntraOpThreads = 1,
            InterOpThreads = 1,
            OptimizationLevel = GraphOptimizationLevel.DisableAll,
            EnableMemoryArena = false,
            ParallelExecution = true,
        };
        options.ConfigEntries["session.intra_op.allow_spinning"] = "0";
        using var session = InferenceSession.FromBytes(TestModels.AddBuilder().ToBytes(), options);
        using var a = OrtValue.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        using var result = session.Run([new("a", a), new("b", a)], ["z"]);
        result[0].ToArray<float>().Should().Equal(2, 4, 6, 8, 10, 12);

        // A config entry that changes how the bytes are parsed proves entries reach ORT.
        var ortFormat = new SessionOptions();
        ortFormat.ConfigEntries["session.load_model_format"] = "ORT";
        var act = () => InferenceSession.FromBytes(TestModels.AddBuilder().ToBytes(), ortFormat);
        act.Should().Throw<OnnxRuntimeException>();

        var negative = () => InferenceSession.FromBytes(TestModels.AddBuilder().ToBytes(), new SessionOptions { IntraOpThreads = -1 });
        negative.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*IntraOpThreads*");
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
