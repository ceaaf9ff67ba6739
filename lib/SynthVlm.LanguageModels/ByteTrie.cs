namespace SynthVlm.LanguageModels;

/// <summary>
/// Immutable trie over UTF-8 byte strings with an int value per terminal node; transitions are a
/// single hash of (node, byte) so a 250k-piece vocabulary stays compact and lookups allocate nothing.
/// </summary>
internal sealed class ByteTrie
{
    private readonly Dictionary<long, int> _edges;
    private readonly int[] _values;

    public ByteTrie(IEnumerable<(byte[] Key, int Value)> entries)
    {
        _edges = [];
        var values = new List<int> { -1 };
        foreach (var (key, value) in entries)
        {
            var node = 0;
            foreach (var b in key)
            {
                var edge = ((long)node << 8) | b;
                if (!_edges.TryGetValue(edge, out var next))
                {
                    next = values.Count;
                    values.Add(-1);
                    _edges.Add(edge, next);
                }
                node = next;
            }
            values[node] = value;
        }
        _values = [.. values];
    }

    /// <summary>True when the trie holds no key.</summary>
    public bool IsEmpty => _edges.Count == 0;

    /// <summary>Follows one byte from <paramref name="node"/>; false when there is no such edge.</summary>
    public bool TryStep(int node, byte b, out int next) => _edges.TryGetValue(((long)node << 8) | b, out next);

    /// <summary>The value stored at <paramref name="node"/>, or -1 when no key ends there.</summary>
    public int ValueAt(int node) => _values[node];

    /// <summary>Length in bytes of the longest key that is a prefix of <paramref name="input"/>, or 0.</summary>
    public int LongestPrefix(ReadOnlySpan<byte> input)
    {
        var node = 0;
        var best = 0;
        for (var i = 0; i < input.Length; i++)
        {
            if (!TryStep(node, input[i], out node))
            {
                break;
            }
            if (_values[node] >= 0)
            {
                best = i + 1;
            }
        }
        return best;
    }
}
