using System.Diagnostics.CodeAnalysis;

namespace SynthVlm.Curation.NearDuplicates;

/// <summary>
/// Streaming near-duplicate removal with MinHash LSH: captions arrive one at a time; the first of
/// a group of near-duplicates is kept, and each later one that shares an LSH band with a kept
/// caption is reported as a duplicate of it (as Data-Juicer treats a band collision as a match).
/// Duplicates are not indexed, so a chain a≈b≈c with a≉c keeps a and c only if c collides with a.
/// </summary>
/// <remarks>
/// Memory is O(kept × bands): per kept caption and band, a 64-bit band key and an int index in an
/// open-addressing table (16–32 bytes with its load-factor slack), plus the caption's id string; no
/// signature is stored. The defaults (threshold 0.7, 256 permutations) choose 25 bands of 10 rows,
/// so about 0.4–0.8 KB per kept caption. Not thread-safe: one writer at a time.
/// </remarks>
public sealed class NearDuplicateIndex
{
    private readonly BandTable[] _bands;
    private readonly List<string> _keptIds = [];
    private readonly uint[] _signature;
    private readonly ulong[] _keys;

    /// <summary>Creates an empty index.</summary>
    /// <param name="settings">MinHash parameters; null for Data-Juicer's defaults.</param>
    /// <exception cref="ArgumentException">A setting is out of range (ParamName names it).</exception>
    public NearDuplicateIndex(MinHashSettings? settings = null)
    {
        Hasher = new MinHasher(settings);
        _bands = new BandTable[Hasher.Bands];
        for (var i = 0; i < _bands.Length; i++)
        {
            _bands[i] = new BandTable();
        }
        _signature = new uint[Hasher.Permutations];
        _keys = new ulong[Hasher.Bands];
    }

    /// <summary>The hash family and the chosen bands and rows.</summary>
    public MinHasher Hasher { get; }

    /// <summary>How many captions have been kept.</summary>
    public int KeptCount => _keptIds.Count;

    /// <summary>
    /// Adds <paramref name="text"/> when it is not a near-duplicate of a kept caption.
    /// </summary>
    /// <param name="id">The caption's id, reported to later near-duplicates.</param>
    /// <param name="text">The caption.</param>
    /// <param name="duplicateOf">When false is returned, the id of the kept caption it matches.</param>
    /// <returns>True when the caption was kept (and indexed); false for a near-duplicate.</returns>
    public bool TryAdd(string id, string text, [NotNullWhen(false)] out string? duplicateOf)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(text);
        Hasher.Signature(text, _signature);
        for (var band = 0; band < _bands.Length; band++)
        {
            var key = Hasher.BandKey(_signature, band);
            if (_bands[band].TryGetValue(key, out var kept))
            {
                duplicateOf = _keptIds[kept];
                return false;
            }
            _keys[band] = key;
        }
        var index = _keptIds.Count;
        _keptIds.Add(id);
        for (var band = 0; band < _bands.Length; band++)
        {
            _bands[band].Add(_keys[band], index);
        }
        duplicateOf = null;
        return true;
    }
}
