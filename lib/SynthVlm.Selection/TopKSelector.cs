namespace SynthVlm.Selection;

/// <summary>
/// The exact top <c>k</c> of a stream of candidates in <see cref="Ranked"/> order, holding at most
/// <c>k</c> of them: a heap whose root is the worst kept candidate, replaced when a better one
/// arrives. Memory is O(k) whatever the stream's length; time O(n log k).
/// </summary>
/// <typeparam name="T">The record carried with each candidate.</typeparam>
public sealed class TopKSelector<T>
{
    private readonly Candidate<T>[] _heap;
    private int _count;

    /// <summary>Creates a selector keeping <paramref name="k"/> candidates (0 keeps none).</summary>
    public TopKSelector(int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        K = k;
        _heap = new Candidate<T>[k];
    }

    /// <summary>How many candidates are kept at most.</summary>
    public int K { get; }

    /// <summary>Candidates offered so far.</summary>
    public long Seen { get; private set; }

    /// <summary>Candidates kept now.</summary>
    public int Count => _count;

    /// <summary>Offers a candidate; returns whether it is (for now) among the top k.</summary>
    public bool Add(in Candidate<T> candidate)
    {
        if (double.IsNaN(candidate.Score))
        {
            throw new ArgumentException($"caption '{candidate.CaptionId}' variant {candidate.Variant}: the score is NaN.", nameof(candidate));
        }
        Seen++;
        if (K == 0)
        {
            return false;
        }
        if (_count < K)
        {
            _heap[_count] = candidate;
            SiftUp(_count++);
            return true;
        }
        // The root is the worst kept; a candidate that does not rank before it is out.
        if (candidate.CompareTo(_heap[0]) >= 0)
        {
            return false;
        }
        _heap[0] = candidate;
        SiftDown(0);
        return true;
    }

    /// <summary>The kept candidates, best first. The selector stays usable.</summary>
    public Candidate<T>[] ToRankedArray()
    {
        var result = _heap.AsSpan(0, _count).ToArray();
        Array.Sort(result, static (a, b) => a.CompareTo(b));
        return result;
    }

    // Max-heap by rank: the root ranks last among the kept.
    private bool RanksAfter(int i, int j) => _heap[i].CompareTo(_heap[j]) > 0;

    private void SiftUp(int i)
    {
        while (i > 0)
        {
            var parent = (i - 1) / 2;
            if (!RanksAfter(i, parent))
            {
                return;
            }
            (_heap[i], _heap[parent]) = (_heap[parent], _heap[i]);
            i = parent;
        }
    }

    private void SiftDown(int i)
    {
        while (true)
        {
            var left = (2 * i) + 1;
            if (left >= _count)
            {
                return;
            }
            var worst = left + 1 < _count && RanksAfter(left + 1, left) ? left + 1 : left;
            if (!RanksAfter(worst, i))
            {
                return;
            }
            (_heap[i], _heap[worst]) = (_heap[worst], _heap[i]);
            i = worst;
        }
    }
}
