using SynthVlm.Testing;

namespace SynthVlm.Onnx.Tests;

/// <summary>
/// Terminating a long run (RunOptions.Terminate or a CancellationToken). The slow model takes
/// tens of seconds uncancelled, so a run that was not interrupted would complete normally and
/// fail these tests; none of them asserts a duration.
/// </summary>
public sealed class CancellationTests : IClassFixture<CancellationTests.SlowSession>
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(120);
    private readonly InferenceSession _session;

    public CancellationTests(SlowSession fixture) => _session = fixture.Session;

    /// <summary>One slow session shared by the tests (building it takes a moment).</summary>
    public sealed class SlowSession : IDisposable
    {
        public InferenceSession Session { get; } = InferenceSession.FromBytes(SlowModel.Build());

        public void Dispose() => Session.Dispose();
    }

    private static OrtValue BigInput() => OrtValue.FromArray(new float[SlowModel.Dim * SlowModel.Dim], SlowModel.Dim, SlowModel.Dim);

    [Fact]
    public async Task CancellationToken_terminates_a_run_in_progress()
    {
        using var x = BigInput();
        using var cts = new CancellationTokenSource();
        using var started = new ManualResetEventSlim();
        var run = Task.Run(() =>
        {
            started.Set();
            using var r = _session.Run([new("x", x)], ["y"], cts.Token);
        });
        started.Wait(TestTimeout.Default).Should().BeTrue();
        await Task.Delay(300);
        await cts.CancelAsync();
        var e = await FluentActions.Awaiting(() => run.WithTimeout(Generous)).Should().ThrowAsync<OperationCanceledException>();
        // The inner ORT error proves ORT stopped the run, rather than the token being checked before it began.
        e.Which.InnerException.Should().BeOfType<OnnxRuntimeException>().Which.Code.Should().Be(OrtErrorCode.Fail);
        e.Which.CancellationToken.Should().Be(cts.Token);
    }

    [Fact]
    public async Task RunOptions_Terminate_stops_a_run_and_Reset_allows_the_next()
    {
        using var x = BigInput();
        using var options = new RunOptions { Tag = "terminate-test" };
        options.Tag.Should().Be("terminate-test");
        using var started = new ManualResetEventSlim();
        var run = Task.Run(() =>
        {
            started.Set();
            using var r = _session.Run([new("x", x)], ["y"], options);
        });
        started.Wait(TestTimeout.Default).Should().BeTrue();
        await Task.Delay(300);
        options.Terminate();
        options.IsTerminated.Should().BeTrue();
        var e = await FluentActions.Awaiting(() => run.WithTimeout(Generous)).Should().ThrowAsync<OperationCanceledException>();
        e.Which.Message.Should().Contain("RunOptions.Terminate");

        // Still terminated: the next run fails at once.
        using var small = OrtValue.FromArray(Enumerable.Range(0, SlowModel.Dim).Select(i => (float)i).ToArray(), 1, SlowModel.Dim);
        var again = () => _session.Run([new("x", small)], ["y"], options);
        again.Should().Throw<OperationCanceledException>();

        options.Reset();
        options.IsTerminated.Should().BeFalse();
        using var result = _session.Run([new("x", small)], ["y"], options);
        result[0].ToArray<float>().Should().Equal(Enumerable.Range(0, SlowModel.Dim).Select(i => (float)i));
    }

    [Fact]
    public async Task RunAsync_observes_cancellation()
    {
        using var x = BigInput();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        await FluentActions.Awaiting(() => _session.RunAsync([new("x", x)], ["y"], cts.Token).WithTimeout(Generous))
            .Should().ThrowAsync<OperationCanceledException>();
    }

    [Fact]
    public void Already_cancelled_token_throws_without_running()
    {
        using var x = BigInput();
        var act = () => _session.Run([new("x", x)], ["y"], new CancellationToken(canceled: true));
        act.Should().Throw<OperationCanceledException>().Which.InnerException.Should().BeNull();
    }
}
