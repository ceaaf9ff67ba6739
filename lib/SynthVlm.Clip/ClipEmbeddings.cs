using System.Numerics.Tensors;

namespace SynthVlm.Clip;

/// <summary>L2-normalised text and image embeddings from one <see cref="ClipModel.Encode"/> call.</summary>
public sealed class ClipEmbeddings
{
    private readonly float[] _text;
    private readonly float[] _image;
    private readonly bool[] _truncated;
    private readonly int[] _tokenCounts;

    internal ClipEmbeddings(float[] text, float[] image, int textCount, int imageCount, int dimension, bool[] truncated, int[] tokenCounts)
    {
        _text = text;
        _image = image;
        TextCount = textCount;
        ImageCount = imageCount;
        Dimension = dimension;
        _truncated = truncated;
        _tokenCounts = tokenCounts;
    }

    /// <summary>Number of texts.</summary>
    public int TextCount { get; }

    /// <summary>Number of images.</summary>
    public int ImageCount { get; }

    /// <summary>Embedding width.</summary>
    public int Dimension { get; }

    /// <summary>The embedding of text <paramref name="index"/>.</summary>
    public ReadOnlySpan<float> Text(int index) => _text.AsSpan(checked(index * Dimension), Dimension);

    /// <summary>The embedding of image <paramref name="index"/>.</summary>
    public ReadOnlySpan<float> Image(int index) => _image.AsSpan(checked(index * Dimension), Dimension);

    /// <summary>Whether text <paramref name="index"/> was cut to the context length.</summary>
    public bool Truncated(int index) => _truncated[index];

    /// <summary>Tokens fed for text <paramref name="index"/>, start and end tokens included.</summary>
    public int TokenCount(int index) => _tokenCounts[index];

    /// <summary>Cosine similarity of a text and an image (both are unit vectors).</summary>
    public double Cosine(int text, int image) => TensorPrimitives.Dot(Text(text), Image(image));
}
