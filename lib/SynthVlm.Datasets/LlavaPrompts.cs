using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace SynthVlm.Datasets;

/// <summary>The human turn of a LLaVA pre-training sample: one of LLaVA's brief-description instructions, chosen per id.</summary>
public static class LlavaPrompts
{
    /// <summary>
    /// The eleven instructions for brief image description that LLaVA used to build its 558K
    /// pre-training set (blip_laion_cc_sbu_558k.json): Liu et al., "Visual Instruction Tuning"
    /// (arXiv:2304.08485), Appendix, Table "The list of instructions for brief image description",
    /// as they appear in the human turns of LLaVA-Pretrain's blip_laion_cc_sbu_558k.json. The paper
    /// typesets the apostrophe of "photo's" as U+2019; the json data has the ASCII apostrophe, kept here.
    /// </summary>
    public static IReadOnlyList<string> BriefDescription { get; } =
    [
        "Describe the image concisely.",
        "Provide a brief description of the given image.",
        "Offer a succinct explanation of the picture presented.",
        "Summarize the visual content of the image.",
        "Give a short and clear explanation of the subsequent image.",
        "Share a concise interpretation of the image provided.",
        "Present a compact description of the photo's key features.",
        "Relay a brief, clear account of the picture shown.",
        "Render a clear and concise summary of the photo.",
        "Write a terse but informative summary of the picture.",
        "Create a compact narrative representing the image presented.",
    ];

    /// <summary>
    /// The image placeholder LLaVA's pre-training json puts after the prompt, on its own line
    /// ("Render a clear and concise summary of the photo.\n&lt;image&gt;").
    /// </summary>
    public const string ImageToken = "<image>";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// The instruction for <paramref name="id"/>: the first 4 bytes of SHA-256 of its UTF-8 bytes,
    /// read as a big-endian unsigned integer, modulo 11 — deterministic across runs and machines.
    /// </summary>
    /// <exception cref="ArgumentException">The id is not valid UTF-16 (a lone surrogate).</exception>
    public static string For(string id) => BriefDescription[Index(id)];

    /// <summary>The index into <see cref="BriefDescription"/> that <see cref="For"/> picks.</summary>
    /// <inheritdoc cref="For" path="/exception"/>
    public static int Index(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        byte[] utf8;
        try
        {
            utf8 = StrictUtf8.GetBytes(id);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"Id '{id}' is not valid UTF-16 (it has a lone surrogate).", nameof(id), e);
        }
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(utf8, hash);
        return (int)(BinaryPrimitives.ReadUInt32BigEndian(hash) % (uint)BriefDescription.Count);
    }

    /// <summary>The full human turn for <paramref name="id"/>: the instruction, a newline, then <c>&lt;image&gt;</c>.</summary>
    public static string HumanTurn(string id) => For(id) + "\n" + ImageToken;
}
