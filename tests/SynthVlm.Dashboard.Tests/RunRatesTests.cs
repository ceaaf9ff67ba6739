using SynthVlm.Protos.V1;
using SynthVlm.Runs;

namespace SynthVlm.Dashboard.Tests;

/// <summary>Rate and ETA from successive samples of the Runs API's per-stage counts, on a clock the test moves.</summary>
public sealed class RunRatesTests
{
    [Fact]
    public void Rate_is_finished_items_per_second_between_samples_and_eta_the_rest_at_that_rate()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero));
        var rates = new RunRates(clock);

        var first = Run(emitted: 30, processed: 4, deadLettered: 0, done: false);
        rates.Sample(first);
        first.Stages[0].Rate.Should().Be(0, "one sample has no rate");
        first.Stages[0].EtaSeconds.Should().Be(-1, "no rate, no ETA");

        clock.Now += TimeSpan.FromSeconds(2);
        // 4 → 13 processed and one dead-lettered: 10 finished in 2 s; 16 left at 5/s.
        var second = Run(emitted: 30, processed: 13, deadLettered: 1, done: false);
        rates.Sample(second);
        second.Stages[0].Rate.Should().Be(5);
        second.Stages[0].EtaSeconds.Should().Be(16 / 5.0);

        clock.Now += TimeSpan.FromSeconds(1);
        var finished = Run(emitted: 30, processed: 29, deadLettered: 1, done: true);
        rates.Sample(finished);
        finished.Stages[0].EtaSeconds.Should().Be(0, "a finished stage has nothing left");
    }

    [Fact]
    public void Runs_are_sampled_apart()
    {
        var clock = new ManualClock(DateTimeOffset.UnixEpoch);
        var rates = new RunRates(clock);
        rates.Sample(Run(emitted: 10, processed: 0, deadLettered: 0, done: false, id: "a"));
        clock.Now += TimeSpan.FromSeconds(1);

        var other = Run(emitted: 10, processed: 8, deadLettered: 0, done: false, id: "b");
        rates.Sample(other);

        other.Stages[0].Rate.Should().Be(0, "run b's first sample is not compared with run a's");
    }

    private static Run Run(long emitted, long processed, long deadLettered, bool done, string id = "r1") => new()
    {
        Id = id,
        Stages = { new StageProgress { Stage = RunStages.Diffusion, Emitted = emitted, Processed = processed, DeadLettered = deadLettered, Done = done } },
    };

    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
