namespace SynthVlm.Vlm.Prompts;

/// <summary>
/// One conversation as LLaVA trains on it: input ids with <see cref="LlavaTokens.ImageTokenIndex"/>
/// once where the image goes, and labels with <see cref="LlavaTokens.IgnoreIndex"/> on every
/// position that is not an answer. Not truncated or padded (the model does both after splicing the
/// image in). A refused sample has empty ids and a <see cref="Rejection"/>.
/// </summary>
/// <param name="Id">The sample id.</param>
/// <param name="InputIds">Token ids; -200 for the image.</param>
/// <param name="Labels">Same length as <paramref name="InputIds"/>; -100 where the loss ignores a position.</param>
/// <param name="HasImage">Whether the sample has an image.</param>
/// <param name="Rejection">Why the sample was refused, or null.</param>
public sealed record PreparedSample(string Id, int[] InputIds, int[] Labels, bool HasImage, string? Rejection)
{
    /// <summary>Whether the sample was refused.</summary>
    public bool IsRejected => Rejection is not null;

    /// <summary>A refused sample: "sample 'id': reason".</summary>
    public static PreparedSample Rejected(string id, bool hasImage, string reason) =>
        new(id, [], [], hasImage, $"sample '{id}': {reason}");

    /// <summary>The number of positions the loss counts.</summary>
    public int LabelledCount => Labels.Count(l => l != LlavaTokens.IgnoreIndex);
}
