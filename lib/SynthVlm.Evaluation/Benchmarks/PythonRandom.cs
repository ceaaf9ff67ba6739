namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// CPython's <c>random.Random</c> as far as lmms-eval's MMBench fallback uses it: the MT19937 generator,
/// <c>seed(n)</c> for a non-negative integer n below 2³² (<c>init_by_array</c> with the one 32-bit key n) and
/// <c>randint(a, b)</c> (<c>_randbelow</c> by rejection on <c>getrandbits(k)</c>, k the bit length of the width),
/// so that a seeded draw here equals Python 3's draw.
/// </summary>
internal sealed class PythonRandom
{
    private const int N = 624;
    private const int M = 397;
    private readonly uint[] _mt = new uint[N];
    private int _index = N + 1;

    /// <summary>Python's <c>random.seed(seed)</c>.</summary>
    public PythonRandom(uint seed)
    {
        InitGenrand(19650218u);
        uint i = 1, j = 0;
        for (var k = N; k > 0; k--)
        {
            _mt[i] = (_mt[i] ^ ((_mt[i - 1] ^ (_mt[i - 1] >> 30)) * 1664525u)) + seed + j;
            i++;
            j++;
            if (i >= N)
            {
                _mt[0] = _mt[N - 1];
                i = 1;
            }
            if (j >= 1)
            {
                j = 0;
            }
        }
        for (var k = N - 1; k > 0; k--)
        {
            _mt[i] = (_mt[i] ^ ((_mt[i - 1] ^ (_mt[i - 1] >> 30)) * 1566083941u)) - i;
            i++;
            if (i >= N)
            {
                _mt[0] = _mt[N - 1];
                i = 1;
            }
        }
        _mt[0] = 0x80000000u;
    }

    /// <summary>Python's <c>randint(low, high)</c>: an integer in [low, high], both included.</summary>
    public int RandInt(int low, int high)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(low, high);
        var width = (uint)(high - low + 1);
        var bits = 32 - System.Numerics.BitOperations.LeadingZeroCount(width);
        uint r;
        do
        {
            r = Next() >> (32 - bits);
        }
        while (r >= width);
        return low + (int)r;
    }

    private void InitGenrand(uint s)
    {
        _mt[0] = s;
        for (var i = 1; i < N; i++)
        {
            _mt[i] = (1812433253u * (_mt[i - 1] ^ (_mt[i - 1] >> 30))) + (uint)i;
        }
        _index = N;
    }

    private uint Next()
    {
        if (_index >= N)
        {
            int k;
            for (k = 0; k < N - M; k++)
            {
                Twist(k, k + 1, k + M);
            }
            for (; k < N - 1; k++)
            {
                Twist(k, k + 1, k + M - N);
            }
            Twist(N - 1, 0, M - 1);
            _index = 0;
        }
        var y = _mt[_index++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        return y;
    }

    private void Twist(int k, int next, int far)
    {
        var y = (_mt[k] & 0x80000000u) | (_mt[next] & 0x7fffffffu);
        _mt[k] = _mt[far] ^ (y >> 1) ^ ((y & 1u) != 0 ? 0x9908b0dfu : 0u);
    }
}
