using System.Buffers;

namespace SynthVlm.Curation.NearDuplicates;

/// <summary>
/// MinHash signatures of texts over word shingles. A text is lower-cased (Python's str.lower),
/// split on whitespace (Python's str.isspace), and each run of <see cref="MinHashSettings.WindowSize"/>
/// consecutive words is one shingle; a text with fewer words is one shingle of all of them, and a
/// text with none is the empty shingle, as in Data-Juicer. Each shingle is hashed to 64 bits and
/// signature value i is min over shingles of the high 32 bits of aᵢ·x + bᵢ (mod 2⁶⁴, aᵢ odd):
/// multiply-shift hashing, a universal family, with aᵢ, bᵢ drawn from SplitMix64 of the seed, so
/// signatures are the same in every process. Immutable; safe to share between threads.
/// </summary>
/// <remarks>
/// Data-Juicer splits on the space character only; splitting on every Python whitespace character
/// also treats tabs and line breaks as separators, which is what a caption means by them.
/// </remarks>
public sealed class MinHasher
{
    private const ulong FnvOffset = 0xCBF29CE484222325UL;
    private const ulong FnvPrime = 0x100000001B3UL;
    private const ulong Golden = 0x9E3779B97F4A7C15UL;

    private readonly ulong[] _a;
    private readonly ulong[] _b;

    /// <summary>Creates the hash family for <paramref name="settings"/> (null: defaults).</summary>
    /// <exception cref="ArgumentException">A setting is out of range (ParamName names it).</exception>
    public MinHasher(MinHashSettings? settings = null)
    {
        settings ??= MinHashSettings.Default;
        settings.Validate();
        Settings = settings;
        (Bands, Rows) = settings.Bands is { } b && settings.Rows is { } r ? (b, r) : LshBanding.Optimal(settings.Threshold, settings.Permutations);
        _a = new ulong[settings.Permutations];
        _b = new ulong[settings.Permutations];
        var state = settings.Seed;
        for (var i = 0; i < _a.Length; i++)
        {
            _a[i] = SplitMix64(ref state) | 1;
            _b[i] = SplitMix64(ref state);
        }
    }

    /// <summary>The settings in force.</summary>
    public MinHashSettings Settings { get; }

    /// <summary>LSH bands (given or chosen for the threshold).</summary>
    public int Bands { get; }

    /// <summary>Signature values per band.</summary>
    public int Rows { get; }

    /// <summary>Signature length.</summary>
    public int Permutations => _a.Length;

    /// <summary>The distinct 64-bit shingle hashes of <paramref name="text"/>, sorted.</summary>
    public ulong[] ShingleHashes(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var scratch = ArrayPool<ulong>.Shared.Rent(Math.Max(text.Length, 1) + 1);
        try
        {
            var n = Shingles(text, scratch);
            var set = new SortedSet<ulong>();
            foreach (var h in scratch.AsSpan(0, n))
            {
                set.Add(h);
            }
            return [.. set];
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(scratch);
        }
    }

    /// <summary>Writes the signature of <paramref name="text"/> to <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="Permutations"/>.</exception>
    public void Signature(string text, Span<uint> destination)
    {
        ArgumentNullException.ThrowIfNull(text);
        var scratch = ArrayPool<ulong>.Shared.Rent(Math.Max(text.Length, 1) + 1);
        try
        {
            var n = Shingles(text, scratch);
            Signature(scratch.AsSpan(0, n), destination);
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(scratch);
        }
    }

    /// <summary>Writes the signature of a set of shingle hashes (repeats do not matter) to <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="Permutations"/>, or there are no shingles.</exception>
    public void Signature(ReadOnlySpan<ulong> shingleHashes, Span<uint> destination)
    {
        if (destination.Length < _a.Length)
        {
            throw new ArgumentException($"The signature needs {_a.Length} values; the destination holds {destination.Length}.", nameof(destination));
        }
        if (shingleHashes.IsEmpty)
        {
            throw new ArgumentException("A signature needs at least one shingle.", nameof(shingleHashes));
        }
        var sig = destination[.._a.Length];
        sig.Fill(uint.MaxValue);
        var a = _a.AsSpan();
        var b = _b.AsSpan(0, a.Length);
        foreach (var x in shingleHashes)
        {
            for (var i = 0; i < a.Length; i++)
            {
                var v = (uint)((a[i] * x + b[i]) >> 32);
                if (v < sig[i])
                {
                    sig[i] = v;
                }
            }
        }
    }

    /// <summary>The share of positions where two signatures agree: an unbiased estimate of the Jaccard similarity.</summary>
    /// <exception cref="ArgumentException">The signatures differ in length or are empty.</exception>
    public static double EstimateJaccard(ReadOnlySpan<uint> first, ReadOnlySpan<uint> second)
    {
        if (first.Length != second.Length || first.IsEmpty)
        {
            throw new ArgumentException($"Signatures must be non-empty and of equal length; found {first.Length} and {second.Length}.", nameof(second));
        }
        var equal = 0;
        for (var i = 0; i < first.Length; i++)
        {
            if (first[i] == second[i])
            {
                equal++;
            }
        }
        return (double)equal / first.Length;
    }

    /// <summary>A 64-bit key for band <paramref name="band"/> of a signature (its <see cref="Rows"/> values).</summary>
    internal ulong BandKey(ReadOnlySpan<uint> signature, int band)
    {
        var h = FnvOffset ^ (ulong)band;
        foreach (var v in signature.Slice(band * Rows, Rows))
        {
            h = (h ^ v) * Golden;
            h ^= h >> 32;
        }
        return Finalize(h);
    }

    // Writes one hash per shingle (with repeats) to destination (room for text.Length + 1); returns how many.
    private int Shingles(string text, ulong[] destination)
    {
        var cps = ArrayPool<int>.Shared.Rent(Math.Max(3 * text.Length, 1));
        try
        {
            var n = PythonText.Decode(text, cps, out _);
            var lowered = cps.AsSpan(n);
            var length = PythonText.Lower(cps.AsSpan(0, n), lowered);
            // Word hashes go to the front of destination, then shingles overwrite them in place:
            // shingle i only reads words i..i+w-1, never an already-overwritten one.
            var words = 0;
            var i = 0;
            while (i < length)
            {
                if (PythonText.IsSpace(lowered[i]))
                {
                    i++;
                    continue;
                }
                var h = FnvOffset;
                while (i < length && !PythonText.IsSpace(lowered[i]))
                {
                    h = (h ^ (uint)lowered[i]) * FnvPrime;
                    i++;
                }
                destination[words++] = Finalize(h);
            }
            var window = Settings.WindowSize;
            var shingles = Math.Max(1, words - window + 1);
            for (var s = 0; s < shingles; s++)
            {
                var h = FnvOffset;
                var end = Math.Min(words, s + window);
                for (var k = s; k < end; k++)
                {
                    h = (h ^ destination[k]) * Golden;
                    h ^= h >> 29;
                }
                destination[s] = Finalize(h ^ (ulong)(end - s));
            }
            return shingles;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(cps);
        }
    }

    private static ulong SplitMix64(ref ulong state)
    {
        state += Golden;
        return Finalize(state);
    }

    // SplitMix64's finaliser: a bijection that spreads every input bit over the output.
    private static ulong Finalize(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
