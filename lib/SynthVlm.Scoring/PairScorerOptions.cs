using SynthVlm.Clip;
using SynthVlm.Imaging;

namespace SynthVlm.Scoring;

/// <summary>Settings of <see cref="PairScorer"/>; bound from configuration section "SynthVlm:Scoring".</summary>
public sealed class PairScorerOptions
{
    /// <summary>Weight of SSIMScore: weighted = clip + Lambda · ssim (0 to 10; SynthVLM uses 0.5).</summary>
    public double Lambda { get; set; } = 0.5;

    /// <summary>Text put before every caption (SynthVLM's scoring code: "A photo depicts "); empty for none.</summary>
    public string TextPrefix { get; set; } = ClipScore.SynthVlmPrefix;

    /// <summary>CLIPScore = ClipWeight · max(cos, 0): 1 as SynthVLM stores it, 2.5 for Hessel et al.</summary>
    public double ClipWeight { get; set; } = 1.0;

    /// <summary>Side of SSIMScore's intermediate square (336 in SynthVLM).</summary>
    public int SsimDown { get; set; } = SsimScore.DefaultDown;

    /// <summary>Pairs per CLIP call at most.</summary>
    public int BatchSize { get; set; } = 16;

    /// <summary>How long a model call waits for more pairs after the first before running a partial batch.</summary>
    public TimeSpan MaxBatchWait { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Images decoded / SSIM-scored / preprocessed at the same time (bounds memory); 0 = processor count.</summary>
    public int PreprocessConcurrency { get; set; }

    /// <summary>Largest image accepted, in pixels (decompression-bomb guard).</summary>
    public long MaxPixels { get; set; } = ImageLimits.DefaultMaxPixels;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first out-of-range setting.</summary>
    public void Validate()
    {
        if (!(Lambda is >= 0 and <= 10))
        {
            throw new ArgumentException($"SynthVlm:Scoring:Lambda must be between 0 and 10; got {Lambda}.");
        }
        if (!(ClipWeight is > 0 and <= 100))
        {
            throw new ArgumentException($"SynthVlm:Scoring:ClipWeight must be in (0, 100]; got {ClipWeight}.");
        }
        if (SsimDown is < 1 or > 8192)
        {
            throw new ArgumentException($"SynthVlm:Scoring:SsimDown must be between 1 and 8192; got {SsimDown}.");
        }
        if (BatchSize is < 1 or > 1024)
        {
            throw new ArgumentException($"SynthVlm:Scoring:BatchSize must be between 1 and 1024; got {BatchSize}.");
        }
        if (MaxBatchWait < TimeSpan.Zero || MaxBatchWait > TimeSpan.FromSeconds(10))
        {
            throw new ArgumentException($"SynthVlm:Scoring:MaxBatchWait must be between 0 and 10 s; got {MaxBatchWait}.");
        }
        if (PreprocessConcurrency is < 0 or > 1024)
        {
            throw new ArgumentException($"SynthVlm:Scoring:PreprocessConcurrency must be between 0 and 1024; got {PreprocessConcurrency}.");
        }
        if (MaxPixels < 1)
        {
            throw new ArgumentException($"SynthVlm:Scoring:MaxPixels must be positive; got {MaxPixels}.");
        }
    }
}
