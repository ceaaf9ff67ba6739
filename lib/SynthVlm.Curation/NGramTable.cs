using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;

namespace SynthVlm.Curation;

/// <summary>
/// Exact frequency count of the length-n windows of an int sequence (code points, or word ids),
/// the dictionary Data-Juicer builds with <c>freq[ngram] = freq.get(ngram, 0) + 1</c>. Windows are
/// hashed and then compared element by element, so a hash collision can never merge two n-grams.
/// All storage is pooled; a table lives for one call.
/// </summary>
internal ref struct NGramTable
{
    private readonly ReadOnlySpan<int> _sequence;
    private readonly int _n;
    private int[]? _slots;   // window start + 1; 0 = empty
    private int[]? _counts;
    private readonly int _mask;

    /// <summary>Counts every window of length <paramref name="n"/> in <paramref name="sequence"/>.</summary>
    public NGramTable(ReadOnlySpan<int> sequence, int n)
    {
        _sequence = sequence;
        _n = n;
        WindowCount = Math.Max(0, sequence.Length - n + 1);
        if (WindowCount == 0)
        {
            return;
        }
        var size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, 2 * WindowCount));
        _mask = size - 1;
        _slots = ArrayPool<int>.Shared.Rent(size);
        _counts = ArrayPool<int>.Shared.Rent(size);
        Array.Clear(_slots, 0, size);
        for (var start = 0; start < WindowCount; start++)
        {
            Add(start);
        }
    }

    /// <summary>Number of windows (the sum of all frequencies).</summary>
    public int WindowCount { get; }

    /// <summary>Number of distinct windows.</summary>
    public int DistinctCount { get; private set; }

    /// <summary>Copies the frequency of every distinct window into <paramref name="destination"/>; returns how many.</summary>
    public readonly int CopyFrequencies(Span<int> destination)
    {
        if (_slots is null)
        {
            return 0;
        }
        var written = 0;
        for (var i = 0; i <= _mask; i++)
        {
            if (_slots[i] != 0)
            {
                destination[written++] = _counts![i];
            }
        }
        return written;
    }

    /// <summary>Number of distinct windows seen exactly once.</summary>
    public readonly int SingletonCount()
    {
        if (_slots is null)
        {
            return 0;
        }
        var singles = 0;
        for (var i = 0; i <= _mask; i++)
        {
            if (_slots[i] != 0 && _counts![i] == 1)
            {
                singles++;
            }
        }
        return singles;
    }

    /// <summary>Returns the pooled arrays.</summary>
    public void Dispose()
    {
        if (_slots is not null)
        {
            ArrayPool<int>.Shared.Return(_slots);
            ArrayPool<int>.Shared.Return(_counts!);
            _slots = null;
            _counts = null;
        }
    }

    private void Add(int start)
    {
        var window = _sequence.Slice(start, _n);
        var slot = (int)Hash(window) & _mask;
        while (true)
        {
            var occupant = _slots![slot];
            if (occupant == 0)
            {
                _slots[slot] = start + 1;
                _counts![slot] = 1;
                DistinctCount++;
                return;
            }
            if (_sequence.Slice(occupant - 1, _n).SequenceEqual(window))
            {
                _counts![slot]++;
                return;
            }
            slot = (slot + 1) & _mask;
        }
    }

    /// <summary>A well-mixed hash of an int span (multiply-xorshift over 64 bits).</summary>
    internal static uint Hash(ReadOnlySpan<int> values)
    {
        var h = 0x9E3779B97F4A7C15UL ^ (ulong)values.Length;
        var words = MemoryMarshal.Cast<int, ulong>(values);
        foreach (var w in words)
        {
            h = (h ^ w) * 0xBF58476D1CE4E5B9UL;
            h ^= h >> 29;
        }
        if ((values.Length & 1) != 0)
        {
            h = (h ^ (uint)values[^1]) * 0x94D049BB133111EBUL;
        }
        h ^= h >> 32;
        h *= 0xD6E8FEB86659FD93UL;
        h ^= h >> 32;
        return (uint)h;
    }
}
