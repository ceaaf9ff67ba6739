using System.Diagnostics;
using System.Globalization;
using SynthVlm.Blobs;
using SynthVlm.Protos.V1;
using SynthVlm.Runs;
using SynthVlm.Selection;

namespace SynthVlm.Bench.Pipeline;

/// <summary>What one finalize pass measured.</summary>
internal sealed record FinalizeResult(
    long Records, long Captions, long K, Candidate<ScoreRecordLocation>[] Selected, TimeSpan Elapsed,
    long HeapBefore, long PeakHeap, long RetainedHeap, long WorkingSetBefore, long PeakWorkingSet, bool PeakWasReset);

/// <summary>
/// SelectionService/RunFinalizer's selection work without the dataset writer: pass 1 counts the
/// captions from the records' keys, K follows from the config, pass 2 reads and parses every score
/// record, keeps the best variant per caption and the exact top K. Memory is sampled while it runs.
/// </summary>
internal static class FinalizeBench
{
    private const int SampleEvery = 4096;

    public static FinalizeResult Run(FileBlobStore store, string run, RunConfig config)
    {
        // Aggressive: compacts and gives the freed memory back to the OS, so the working set and its
        // peak start from what is live now rather than from an earlier pass's footprint.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        var heapBefore = GC.GetTotalMemory(forceFullCollection: false);
        var reset = PeakMemory.TryReset();
        var workingSetBefore = PeakMemory.CurrentWorkingSet();
        var peakHeap = heapBefore;
        var started = Stopwatch.StartNew();

        long captions = 0;
        var last = -1L;
        foreach (var (index, _, _) in RunRecords.EnumerateScores(store, run))
        {
            if (index != last)
            {
                captions++;
                last = index;
            }
        }
        var k = RunConfigs.SelectionSize(config, captions);
        if (k > Array.MaxLength)
        {
            throw new InvalidOperationException($"top K of {k} is more than one selection can hold.");
        }

        // As RunFinalizer: candidates carry the record's location; the K winners are re-read when written.
        var selector = new TopKSelector<ScoreRecordLocation>((int)k);
        long records = 0;
        foreach (var best in BestVariant.PerCaption(Read()))
        {
            selector.Add(best);
        }
        var selected = selector.ToRankedArray();
        var elapsed = started.Elapsed;
        peakHeap = Math.Max(peakHeap, GC.GetTotalMemory(forceFullCollection: false));
        var peakWorkingSet = PeakMemory.PeakWorkingSet();
        // What the selection itself keeps (garbage collected away, the selected candidates alive).
        var retained = GC.GetTotalMemory(forceFullCollection: true) - heapBefore;
        GC.KeepAlive(selected);
        return new FinalizeResult(records, captions, k, selected, elapsed, heapBefore, peakHeap, retained, workingSetBefore, peakWorkingSet, reset);

        IEnumerable<Candidate<ScoreRecordLocation>> Read()
        {
            foreach (var ((_, variant, location), record) in RunRecords.ReadScores(store, run))
            {
                ScoredImage scored;
                try
                {
                    scored = ScoredImage.Parser.ParseFrom(record.Span);
                }
                catch (Google.Protobuf.InvalidProtocolBufferException e)
                {
                    throw new InvalidDataException($"score record '{location}' is corrupt: {e.Message}", e);
                }
                var clip = scored.Score.Clip;
                var weighted = clip + (config.Lambda * scored.Score.Ssim);
                if (++records % SampleEvery == 0)
                {
                    peakHeap = Math.Max(peakHeap, GC.GetTotalMemory(forceFullCollection: false));
                }
                yield return new Candidate<ScoreRecordLocation>(scored.Image.CaptionId, variant, config.ClipOnly ? clip : weighted, location);
            }
        }
    }

    /// <summary>
    /// Checks the selection against the naive answer (every best variant sorted by the ranking rule)
    /// computed from the same files; throws when they differ.
    /// </summary>
    public static void Verify(FileBlobStore store, string run, RunConfig config, FinalizeResult result)
    {
        // Only ids and scores are kept, so the check itself stays small next to what it checks.
        var best = new Dictionary<string, Candidate<bool>>(StringComparer.Ordinal);
        foreach (var ((_, variant, _), record) in RunRecords.ReadScores(store, run))
        {
            var s = ScoredImage.Parser.ParseFrom(record.Span);
            var weighted = config.ClipOnly ? s.Score.Clip : s.Score.Clip + (config.Lambda * s.Score.Ssim);
            var c = new Candidate<bool>(s.Image.CaptionId, variant, weighted, true);
            if (!best.TryGetValue(c.CaptionId, out var b) || c.CompareTo(b) < 0)
            {
                best[c.CaptionId] = c;
            }
        }
        var expected = best.Values.ToList();
        expected.Sort((a, b) => a.CompareTo(b));
        if (expected.Count != result.Captions || result.Selected.Length != Math.Min(result.K, expected.Count))
        {
            throw new InvalidOperationException($"finalize selected {result.Selected.Length} of {result.Captions} captions; the naive answer has {expected.Count} captions and K {result.K}.");
        }
        for (var i = 0; i < result.Selected.Length; i++)
        {
            if (result.Selected[i].CaptionId != expected[i].CaptionId || result.Selected[i].Variant != expected[i].Variant)
            {
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                    $"finalize rank {i} is {result.Selected[i].CaptionId}/{result.Selected[i].Variant}; the naive sort has {expected[i].CaptionId}/{expected[i].Variant}."));
            }
        }
    }
}

/// <summary>Peak resident memory of this process (Linux: VmHWM, which writing 5 to clear_refs resets).</summary>
internal static class PeakMemory
{
    public static bool TryReset()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static long PeakWorkingSet()
    {
        using var self = Process.GetCurrentProcess();
        return StatusKb("VmHWM:") is { } kb ? kb * 1024 : self.PeakWorkingSet64;
    }

    public static long CurrentWorkingSet()
    {
        using var self = Process.GetCurrentProcess();
        return StatusKb("VmRSS:") is { } kb ? kb * 1024 : self.WorkingSet64;
    }

    private static long? StatusKb(string field)
    {
        if (!File.Exists("/proc/self/status"))
        {
            return null;
        }
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                var digits = line.AsSpan(field.Length).Trim().TrimEnd("kB").Trim();
                return long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
            }
        }
        return null;
    }
}

/// <summary>Writes many score records through a <see cref="ScoreLogWriter"/>, up to 1,024 in flight.</summary>
internal sealed class ScoreLogSetup(FileBlobStore store) : IDisposable
{
    private readonly ScoreLogWriter _writer = new(store, "bench-setup");
    private readonly List<Task> _pending = new(1024);

    public void Append(string run, long captionIndex, int variant, byte[] record)
    {
        _pending.Add(_writer.AppendAsync(run, captionIndex, variant, record));
        if (_pending.Count == 1024)
        {
            Task.WaitAll(_pending);
            _pending.Clear();
        }
    }

    public void Dispose()
    {
        Task.WaitAll(_pending);
        _writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
