using System.Globalization;
using System.Text;
using SynthVlm.Protos.V1;

namespace SynthVlm.AppHost;

/// <summary>
/// Shows a run's per-stage progress: on a terminal, one bar per stage redrawn in place; otherwise
/// (a file, a pipe, CI) one line per stage that moved, at most every <see cref="PlainInterval"/>
/// and whenever the run's state or a stage's completion changes.
/// </summary>
internal sealed class RunProgressView(ClusterConsole console, bool interactive, TimeProvider time)
{
    /// <summary>The quietest plain output gets while something moves.</summary>
    public static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(2);

    private const int BarWidth = 24;
    private readonly Dictionary<string, (long Emitted, long Processed, long Dropped, long DeadLettered, bool Done)> _printed = [];
    private readonly DateTimeOffset _started = time.GetUtcNow();
    private DateTimeOffset _lastPrint = DateTimeOffset.MinValue;
    private RunState? _printedState;

    /// <summary>Shows <paramref name="run"/> as it is now.</summary>
    public void Update(Run run)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (interactive)
        {
            console.DrawFrame(Frame(run));
        }
        else
        {
            Print(run, force: false);
        }
    }

    /// <summary>Shows the final state and leaves it on the screen.</summary>
    public void Finish(Run run)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (interactive)
        {
            console.DrawFrame(Frame(run));
            console.EndFrame();
        }
        else
        {
            Print(run, force: true);
        }
    }

    private void Print(Run run, bool force)
    {
        var now = time.GetUtcNow();
        var stateChanged = run.State != _printedState;
        var doneChanged = run.Stages.Any(s => _printed.TryGetValue(s.Stage, out var p) && p.Done != s.Done);
        if (!force && !stateChanged && !doneChanged && now - _lastPrint < PlainInterval)
        {
            return;
        }
        if (stateChanged)
        {
            console.WriteLine($"[run] {run.Id}: {Describe(run.State)}{(run.Reason.Length > 0 ? $" ({run.Reason})" : string.Empty)}");
            _printedState = run.State;
        }
        foreach (var stage in run.Stages)
        {
            var counts = (stage.Emitted, stage.Processed, stage.Dropped, stage.DeadLettered, stage.Done);
            if (_printed.TryGetValue(stage.Stage, out var previous) && previous == counts)
            {
                continue;
            }
            _printed[stage.Stage] = counts;
            console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[run] {stage.Stage,-9} {Counts(stage)} processed, {stage.Dropped} dropped, {stage.DeadLettered} dead-lettered, {Rate(stage)}, {Remaining(stage)}"));
        }
        _lastPrint = now;
    }

    private List<string> Frame(Run run)
    {
        var elapsed = time.GetUtcNow() - _started;
        var lines = new List<string>
        {
            string.Empty,
            string.Create(CultureInfo.InvariantCulture, $"  Run {run.Id}  {Describe(run.State)}  {Duration(elapsed.TotalSeconds)}"),
        };
        foreach (var stage in run.Stages)
        {
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"  {stage.Stage,-9} {Bar(stage)} {Counts(stage),15} dropped {stage.Dropped,-6} dead {stage.DeadLettered,-5} {Rate(stage),10}  {Remaining(stage)}"));
        }
        if (run.Reason.Length > 0)
        {
            lines.Add($"  {run.Reason}");
        }
        return lines;
    }

    // Ingest reads the pool rather than receiving items, so its emitted count may stay 0.
    private static string Counts(StageProgress stage) =>
        stage.Emitted == 0 && stage.Processed > 0
            ? stage.Processed.ToString(CultureInfo.InvariantCulture)
            : string.Create(CultureInfo.InvariantCulture, $"{stage.Processed}/{stage.Emitted}");

    private static string Bar(StageProgress stage)
    {
        var fraction = stage.Done ? 1.0 : stage.Emitted == 0 ? 0.0 : Math.Clamp((double)(stage.Processed + stage.DeadLettered) / stage.Emitted, 0, 1);
        var full = (int)Math.Round(fraction * BarWidth);
        return new StringBuilder(BarWidth + 2).Append('[').Append('█', full).Append('░', BarWidth - full).Append(']').ToString();
    }

    private static string Rate(StageProgress stage) =>
        stage.Rate > 0 ? string.Create(CultureInfo.InvariantCulture, $"{stage.Rate:0.0}/s") : "-/s";

    private static string Remaining(StageProgress stage) =>
        stage.Done ? "done"
        : stage.Emitted == 0 ? "waiting"
        : stage.EtaSeconds >= 0 ? $"ETA {Duration(stage.EtaSeconds)}"
        : "ETA unknown";

    /// <summary>"42 s", "3:07" or "1:02:09".</summary>
    public static string Duration(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Max(0, Math.Round(seconds)));
        return t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture)
            : t.TotalMinutes >= 1 ? t.ToString(@"m\:ss", CultureInfo.InvariantCulture)
            : string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0} s");
    }

    /// <summary>COMPLETED, RUNNING, ... as runs.proto spells them without the prefix.</summary>
    public static string Describe(RunState state) => state.ToString().ToUpperInvariant();
}

