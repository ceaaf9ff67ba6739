using System.Collections;

namespace SynthVlm.Rpc;

/// <summary>
/// Call metadata (headers or trailers): an ordered list of key/value entries. Keys are
/// lowercase; keys ending in <c>-bin</c> hold bytes, which travel base64-encoded.
/// </summary>
public sealed class Metadata : IList<Metadata.Entry>
{
    /// <summary>The suffix that marks a binary entry.</summary>
    public const string BinarySuffix = "-bin";

    private readonly List<Entry> _entries = [];

    /// <summary>The number of entries.</summary>
    public int Count => _entries.Count;

    /// <summary>Always false.</summary>
    public bool IsReadOnly => false;

    /// <summary>The entry at <paramref name="index"/>.</summary>
    public Entry this[int index]
    {
        get => _entries[index];
        set => _entries[index] = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>Adds an ASCII entry.</summary>
    public void Add(string key, string value) => _entries.Add(new Entry(key, value));

    /// <summary>Adds a binary entry; <paramref name="key"/> must end in <c>-bin</c>.</summary>
    public void Add(string key, byte[] valueBytes) => _entries.Add(new Entry(key, valueBytes));

    /// <summary>Adds an entry.</summary>
    public void Add(Entry item)
    {
        ArgumentNullException.ThrowIfNull(item);
        _entries.Add(item);
    }

    /// <summary>The last entry with <paramref name="key"/>, or null.</summary>
    public Entry? Get(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            if (string.Equals(_entries[i].Key, key, StringComparison.OrdinalIgnoreCase))
            {
                return _entries[i];
            }
        }
        return null;
    }

    /// <summary>All entries with <paramref name="key"/>, in order.</summary>
    public IEnumerable<Entry> GetAll(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _entries.Where(e => string.Equals(e.Key, key, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The string value of the last entry with <paramref name="key"/>, or null.</summary>
    public string? GetValue(string key) => Get(key)?.Value;

    /// <summary>The bytes of the last binary entry with <paramref name="key"/>, or null.</summary>
    public byte[]? GetValueBytes(string key) => Get(key)?.ValueBytes;

    /// <summary>Removes all entries.</summary>
    public void Clear() => _entries.Clear();

    /// <summary>Whether the exact entry instance is present.</summary>
    public bool Contains(Entry item) => _entries.Contains(item);

    /// <summary>Copies the entries into <paramref name="array"/>.</summary>
    public void CopyTo(Entry[] array, int arrayIndex) => _entries.CopyTo(array, arrayIndex);

    /// <summary>The index of the exact entry instance, or -1.</summary>
    public int IndexOf(Entry item) => _entries.IndexOf(item);

    /// <summary>Inserts an entry at <paramref name="index"/>.</summary>
    public void Insert(int index, Entry item)
    {
        ArgumentNullException.ThrowIfNull(item);
        _entries.Insert(index, item);
    }

    /// <summary>Removes the exact entry instance.</summary>
    public bool Remove(Entry item) => _entries.Remove(item);

    /// <summary>Removes the entry at <paramref name="index"/>.</summary>
    public void RemoveAt(int index) => _entries.RemoveAt(index);

    /// <summary>Enumerates the entries in order.</summary>
    public List<Entry>.Enumerator GetEnumerator() => _entries.GetEnumerator();

    IEnumerator<Entry> IEnumerable<Entry>.GetEnumerator() => _entries.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _entries.GetEnumerator();

    /// <summary>Whether <paramref name="key"/> names a binary entry.</summary>
    public static bool IsBinaryKey(string key) =>
        key is not null && key.EndsWith(BinarySuffix, StringComparison.OrdinalIgnoreCase);

    /// <summary>One metadata entry.</summary>
    public sealed class Entry
    {
        private readonly string? _value;
        private readonly byte[]? _valueBytes;

        /// <summary>Creates an ASCII entry (printable ASCII 0x20–0x7E).</summary>
        public Entry(string key, string value)
        {
            ArgumentNullException.ThrowIfNull(value);
            Key = NormalizeKey(key);
            if (IsBinaryKey(Key))
            {
                throw new ArgumentException($"Metadata key '{Key}' ends in '-bin' and needs a byte[] value.", nameof(key));
            }
            foreach (var c in value)
            {
                if (c is < ' ' or > '~')
                {
                    throw new ArgumentException($"Metadata value for '{Key}' must be printable ASCII (0x20-0x7E).", nameof(value));
                }
            }
            _value = value;
        }

        /// <summary>Creates a binary entry; <paramref name="key"/> must end in <c>-bin</c>.</summary>
        public Entry(string key, byte[] valueBytes)
        {
            ArgumentNullException.ThrowIfNull(valueBytes);
            Key = NormalizeKey(key);
            if (!IsBinaryKey(Key))
            {
                throw new ArgumentException($"Metadata key '{Key}' holds bytes and must end in '-bin'.", nameof(key));
            }
            _valueBytes = valueBytes;
        }

        /// <summary>The lowercase key.</summary>
        public string Key { get; }

        /// <summary>Whether this entry holds bytes.</summary>
        public bool IsBinary => _valueBytes is not null;

        /// <summary>The string value; for a binary entry, its bytes as base64.</summary>
        public string Value => _value ?? Convert.ToBase64String(_valueBytes!);

        /// <summary>The bytes; for an ASCII entry, its ASCII bytes.</summary>
        public byte[] ValueBytes => _valueBytes ?? System.Text.Encoding.ASCII.GetBytes(_value!);

        /// <inheritdoc />
        public override string ToString() => $"{Key}: {Value}";

        private static string NormalizeKey(string key)
        {
            ArgumentException.ThrowIfNullOrEmpty(key);
            var lower = key.ToLowerInvariant();
            foreach (var c in lower)
            {
                if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '-' or '.'))
                {
                    throw new ArgumentException($"Metadata key '{key}' may only contain 0-9 a-z _ - . characters.", nameof(key));
                }
            }
            return lower;
        }
    }
}
