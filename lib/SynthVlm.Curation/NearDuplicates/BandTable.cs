namespace SynthVlm.Curation.NearDuplicates;

/// <summary>
/// One LSH band's map from 64-bit band key to kept-caption index: open addressing with linear
/// probing in two flat arrays, power-of-two capacity, load at most 3/4. 12 bytes per slot, so 16–32
/// bytes per entry, about half of a <see cref="Dictionary{TKey, TValue}"/>'s 28–56 (entry + bucket
/// + prime growth slack); at a million kept captions and 25 bands that is the difference between
/// ~0.6 and ~1.3 GB.
/// </summary>
internal sealed class BandTable
{
    private const int InitialCapacity = 1 << 10;

    // Key 0 marks an empty slot; a real key of 0 is stored as this constant instead (one key in 2⁶⁴
    // shares a slot name with it, which at worst reports one extra near-duplicate).
    private const ulong ZeroKey = 0x8000_0000_0000_0001UL;

    private ulong[] _keys = new ulong[InitialCapacity];
    private int[] _values = new int[InitialCapacity];

    public int Count { get; private set; }

    public bool TryGetValue(ulong key, out int value)
    {
        key = key == 0 ? ZeroKey : key;
        var mask = _keys.Length - 1;
        for (var slot = (int)(key & (uint)mask); ; slot = (slot + 1) & mask)
        {
            var k = _keys[slot];
            if (k == key)
            {
                value = _values[slot];
                return true;
            }
            if (k == 0)
            {
                value = 0;
                return false;
            }
        }
    }

    /// <summary>Adds a key that is not present (the caller has just looked it up).</summary>
    public void Add(ulong key, int value)
    {
        if ((Count + 1) * 4L > _keys.Length * 3L)
        {
            Grow();
        }
        Insert(_keys, _values, key == 0 ? ZeroKey : key, value);
        Count++;
    }

    private static void Insert(ulong[] keys, int[] values, ulong key, int value)
    {
        var mask = keys.Length - 1;
        var slot = (int)(key & (uint)mask);
        while (keys[slot] != 0 && keys[slot] != key)
        {
            slot = (slot + 1) & mask;
        }
        keys[slot] = key;
        values[slot] = value;
    }

    private void Grow()
    {
        var keys = new ulong[_keys.Length * 2];
        var values = new int[_keys.Length * 2];
        for (var i = 0; i < _keys.Length; i++)
        {
            if (_keys[i] != 0)
            {
                Insert(keys, values, _keys[i], _values[i]);
            }
        }
        _keys = keys;
        _values = values;
    }
}
