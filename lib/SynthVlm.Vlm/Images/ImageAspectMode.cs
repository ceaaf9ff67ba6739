namespace SynthVlm.Vlm.Images;

/// <summary>How a non-square image becomes the vision tower's square input (LLaVA's <c>image_aspect_ratio</c>).</summary>
public enum ImageAspectMode
{
    /// <summary>
    /// CLIP's recipe alone: resize the shortest edge, centre crop (LLaVA pre-training;
    /// <c>image_aspect_ratio</c> "square" or absent; llava-hf's CLIPImageProcessor).
    /// </summary>
    Crop,

    /// <summary>
    /// LLaVA's <c>expand2square</c> first: paste the image centred on a square canvas filled with the
    /// processor's mean colour, then CLIP's recipe (LLaVA-1.5 instruction tuning; <c>image_aspect_ratio</c>
    /// "pad"; llava-hf's LlavaImageProcessor with <c>do_pad</c>).
    /// </summary>
    Pad,
}
