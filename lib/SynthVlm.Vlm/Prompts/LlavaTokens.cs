namespace SynthVlm.Vlm.Prompts;

/// <summary>LLaVA's constants (llava/constants.py), spelled once.</summary>
public static class LlavaTokens
{
    /// <summary>The label of a position the loss ignores (<c>IGNORE_INDEX</c>).</summary>
    public const int IgnoreIndex = -100;

    /// <summary>The id that stands for the image in input ids, replaced by the image features later (<c>IMAGE_TOKEN_INDEX</c>).</summary>
    public const int ImageTokenIndex = -200;

    /// <summary>The image placeholder in conversation text (<c>DEFAULT_IMAGE_TOKEN</c>).</summary>
    public const string ImageToken = "<image>";
}
