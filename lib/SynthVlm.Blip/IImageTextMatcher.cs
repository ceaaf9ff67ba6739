using SynthVlm.Imaging;

namespace SynthVlm.Blip;

/// <summary>A decoded image and the caption it is matched against.</summary>
/// <param name="Image">The RGB image (not disposed by the matcher).</param>
/// <param name="Caption">The caption text (may be empty: it is then scored as [CLS] [SEP], as Hugging Face does).</param>
public readonly record struct ImageCaptionPair(RgbImage Image, string Caption);

/// <summary>The image–text matching head's output for one pair.</summary>
/// <param name="NoMatchLogit">itm logit 0.</param>
/// <param name="MatchLogit">itm logit 1.</param>
/// <param name="Probability">softmax(logits)[1]: the probability that the caption matches the image.</param>
/// <param name="TokenCount">Tokens the caption occupied, [CLS] and [SEP] included.</param>
/// <param name="Truncated">Whether the caption was cut to the model's maximum text length.</param>
public readonly record struct ImageTextMatch(float NoMatchLogit, float MatchLogit, double Probability, int TokenCount, bool Truncated);

/// <summary>Scores (image, caption) pairs; <see cref="BlipItmModel"/> is the ONNX implementation.</summary>
public interface IImageTextMatcher
{
    /// <summary>One result per pair, in order.</summary>
    IReadOnlyList<ImageTextMatch> Match(IReadOnlyList<ImageCaptionPair> pairs, CancellationToken cancellationToken = default);
}
