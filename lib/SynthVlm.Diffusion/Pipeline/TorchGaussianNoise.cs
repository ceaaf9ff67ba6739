using SynthVlm.Diffusion.Schedulers;

namespace SynthVlm.Diffusion;

/// <summary>
/// The normal samples <c>torch.randn(n, generator=torch.Generator().manual_seed(seed))</c> draws on
/// the CPU, so a seed gives the latents diffusers gives for it (diffusers draws latents, and the
/// ancestral schedulers' noise, on the generator's device, the CPU for a CPU generator). torch's
/// CPU generator is MT19937 seeded with the low 32 bits; a float32 draw of 16 or more values fills
/// the tensor with 24-bit uniforms and turns each block of 16 into normals by Box–Muller on pairs
/// (j, j + 8), redrawing the last 16 when the length is not a multiple of 16. Each
/// <see cref="Fill"/> is one randn call; consecutive calls continue the stream as torch does.
/// Values agree with torch 1.13 within a few float32 ulps (torch evaluates log/sin/cos with
/// vectorised float routines). Draws of fewer than 16 values (latents smaller than 16 × 16
/// pixels) take torch's scalar path, which this class does not reproduce; it uses the same
/// block method on a 16-value block instead.
/// </summary>
public sealed class TorchGaussianNoise : IGaussianNoise
{
    private const int N = 624;
    private const int M = 397;
    private readonly uint[] _state = new uint[N];
    private int _index = N;

    /// <summary>A generator in the state of <c>torch.Generator().manual_seed(seed)</c>.</summary>
    public TorchGaussianNoise(ulong seed)
    {
        _state[0] = (uint)seed;
        for (var i = 1; i < N; i++)
        {
            _state[i] = unchecked((1812433253u * (_state[i - 1] ^ (_state[i - 1] >> 30))) + (uint)i);
        }
    }

    /// <inheritdoc />
    public void Fill(Span<float> destination)
    {
        if (destination.Length < 16)
        {
            Span<float> block = stackalloc float[16];
            Fill(block);
            block[..destination.Length].CopyTo(destination);
            return;
        }
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = NextUniform();
        }
        for (var offset = 0; offset + 16 <= destination.Length; offset += 16)
        {
            BoxMuller16(destination.Slice(offset, 16));
        }
        if (destination.Length % 16 != 0)
        {
            var tail = destination[^16..];
            for (var i = 0; i < 16; i++)
            {
                tail[i] = NextUniform();
            }
            BoxMuller16(tail);
        }
    }

    private static void BoxMuller16(Span<float> data)
    {
        for (var j = 0; j < 8; j++)
        {
            var u1 = 1f - data[j];
            var u2 = data[j + 8];
            var radius = MathF.Sqrt(-2f * MathF.Log(u1));
            var theta = 2f * MathF.PI * u2;
            data[j] = radius * MathF.Cos(theta);
            data[j + 8] = radius * MathF.Sin(theta);
        }
    }

    private float NextUniform() => (NextUInt32() & ((1u << 24) - 1)) * (1f / (1 << 24));

    private uint NextUInt32()
    {
        if (_index >= N)
        {
            for (var i = 0; i < N; i++)
            {
                var y = (_state[i] & 0x80000000u) | (_state[(i + 1) % N] & 0x7fffffffu);
                _state[i] = _state[(i + M) % N] ^ (y >> 1) ^ ((y & 1) != 0 ? 0x9908b0dfu : 0u);
            }
            _index = 0;
        }
        var x = _state[_index++];
        x ^= x >> 11;
        x ^= (x << 7) & 0x9d2c5680u;
        x ^= (x << 15) & 0xefc60000u;
        x ^= x >> 18;
        return x;
    }
}
