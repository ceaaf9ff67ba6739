namespace SynthVlm.Diffusion.Schedulers;

/// <summary>A source of standard normal (mean 0, variance 1) float samples, consumed in order.</summary>
public interface IGaussianNoise
{
    /// <summary>Fills <paramref name="destination"/> with the next <c>destination.Length</c> samples.</summary>
    void Fill(Span<float> destination);
}
