using SynthVlm.Testing;

namespace SynthVlm.Onnx.Tests;

/// <summary>
/// Terminating a long run through a CancellationToken (OnnxRuns sets RunOptions.Terminate). The
/// slow model takes tens of seconds uncancelled, so a run that was not interrupted would complete
/// normally and fail these tests; none of them asserts a duration.
/// </summary>
public sealed class CancellationTests : IClassFixture<CancellationTests.SlowSession>
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(120);
    private readonly InferenceSession _session;

    public CancellationTests(SlowSession fixture) => _session = fixture.Session;

    /// <summary>One slow session shared by the tests (building it takes a moment).</summary>
    public sealed class SlowSession : IDisposable
    {
        public InferenceSession Session { get; } = OnnxSessions.FromBytes(SlowModel.Build(), modelName: "slow");

        public void Dispose() => Session.Dispose();
    }

    private static OrtValue BigInput() => TestModels.Tensor(new float[SlowModel.Dim * SlowModel.Dim], SlowModel.Dim, SlowModel.Dim);

    [Fact]
    public async Task CancellationToken_terminates_a_run_in_progress()
    {
        using var x = BigInput();
        using var cts = new CancellationTokenSource();
        using var started = new ManualResetEventSlim();
        var run = Task.Run(() =>
        {
            started.Set();
            using var r = _session.Run(new Dictionary<string, OrtValue> { ["x"] = x }, ["y"], cts.Token);
        });
        started.Wait(TestTimeout.Default).Should().BeTrue();
        await Task.Delay(300);
        await cts.CancelAsync();
        var e = await FluentActions.Awaiting(() => run.WithTimeout(Generous)).Should().ThrowAsync<OperationCanceledException>();
        // The inner ORT error proves ORT stopped the run, rather than the token being checked before it began.
        e.Which.InnerException.Should().BeOfType<OnnxRuntimeException>();
        e.Which.CancellationToken.Should().Be(cts.Token);
    }

    [Fact]
    public async Task CancellationToken_terminates_a_bound_run_in_progress()
    {
        using var x = BigInput();
        using var binding = _session.CreateIoBinding();
        binding.BindInput("x", x);
        binding.BindOutputToDevice("y", OrtMemoryInfo.DefaultInstance);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        var run = Task.Run(() => _session.RunWithBinding(binding, cts.Token));
        var e = await FluentActions.Awaiting(() => run.WithTimeout(Generous)).Should().ThrowAsync<OperationCanceledException>();
        e.Which.InnerException.Should().BeOfType<OnnxRuntimeException>();
    }

    [Fact]
    public void Already_cancelled_token_throws_without_running()
    {
        using var x = BigInput();
        var act = () => _session.Run(new Dictionary<string, OrtValue> { ["x"] = x }, ["y"], new CancellationToken(canceled: true));
        act.Should().Throw<OperationCanceledException>().Which.InnerException.Should().BeNull();
    }

    [Fact]
    public void A_token_that_is_not_cancelled_changes_nothing()
    {
        var row = Enumerable.Range(0, SlowModel.Dim).Select(i => (float)i).ToArray();
        using var small = TestModels.Tensor(row, 1, SlowModel.Dim);
        using var cts = new CancellationTokenSource();
        using (var result = _session.Run(new Dictionary<string, OrtValue> { ["x"] = small }, ["y"], cts.Token))
        {
            result[0].GetTensorDataAsSpan<float>().ToArray().Should().Equal(row);
        }
        using var none = _session.Run(new Dictionary<string, OrtValue> { ["x"] = small }, ["y"], CancellationToken.None);
        none[0].GetTensorDataAsSpan<float>().ToArray().Should().Equal(row);
    }
}
