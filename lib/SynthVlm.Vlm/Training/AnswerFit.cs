using System.Globalization;
using SynthVlm.Vlm.Model;

namespace SynthVlm.Vlm.Training;

/// <summary>
/// How much of one training sequence's answer survives LLaVA's truncation to the model's context
/// (<see cref="LlavaConfig.ModelMaxLength"/>, counted after the image marker became
/// <see cref="LlavaConfig.ImageTokenCount"/> positions), measured on the CPU before the model sees it.
/// </summary>
/// <param name="PromptPositions">Positions before the first supervised label (the image counted in full); all positions when no label is supervised.</param>
/// <param name="SupervisedPositions">Supervised labels the loss still counts after truncation (position 0 never counts: the loss predicts each label from the position before it).</param>
/// <param name="TotalPositions">Positions of the whole sequence before truncation.</param>
/// <param name="ContextLength">The context the sequence is cut to.</param>
public readonly record struct AnswerFit(int PromptPositions, int SupervisedPositions, int TotalPositions, int ContextLength)
{
    /// <summary>Whether at least one answer token is left for the loss.</summary>
    public bool HasAnswer => SupervisedPositions > 0;

    /// <summary>
    /// Measures <paramref name="inputIds"/>/<paramref name="labels"/> (image marker once, labels
    /// <see cref="LlavaConfig.IgnoreIndex"/> where not supervised) against <paramref name="config"/>: the same
    /// splice-then-truncate as <see cref="LlavaModel.PrepareBatch"/> and the same shift as its loss.
    /// </summary>
    public static AnswerFit Measure(IReadOnlyList<int> inputIds, IReadOnlyList<int> labels, LlavaConfig config)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(config);
        if (labels.Count != inputIds.Count)
        {
            throw new ArgumentException($"{inputIds.Count} ids but {labels.Count} labels.", nameof(labels));
        }
        var context = config.ModelMaxLength;
        var position = 0;
        var firstSupervised = -1;
        var supervised = 0;
        for (var j = 0; j < inputIds.Count; j++)
        {
            if (config.IsImageToken(inputIds[j]))
            {
                position += config.ImageTokenCount;
                continue;
            }
            if (labels[j] != LlavaConfig.IgnoreIndex)
            {
                if (firstSupervised < 0)
                {
                    firstSupervised = position;
                }
                if (position >= 1 && position < context)
                {
                    supervised++;
                }
            }
            position++;
        }
        return new AnswerFit(firstSupervised < 0 ? position : firstSupervised, supervised, position, context);
    }

    /// <summary>"prompt needs X positions, the context holds N" (with the whole length when it was cut).</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"the prompt needs {PromptPositions} positions (the image counted in full), the sequence {TotalPositions}, the context holds {ContextLength}");
}
