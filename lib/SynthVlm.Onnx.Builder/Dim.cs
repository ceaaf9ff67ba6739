namespace SynthVlm.Onnx.Builder;

/// <summary>One dimension of a graph input or output: a fixed size or a named dynamic axis.</summary>
public readonly record struct Dim
{
    private Dim(long size, string? symbol) => (Size, Symbol) = (size, symbol);

    /// <summary>The fixed size, or -1 for a dynamic axis.</summary>
    public long Size { get; }

    /// <summary>The dynamic axis name (for example "batch_size"), or null for a fixed size.</summary>
    public string? Symbol { get; }

    /// <summary>A fixed-size dimension.</summary>
    public static Dim Fixed(long size) =>
        size >= 0 ? new Dim(size, null) : throw new ArgumentOutOfRangeException(nameof(size), size, "A fixed dimension is 0 or more.");

    /// <summary>A dynamic dimension with a name, as exporters write them.</summary>
    public static Dim Dynamic(string symbol)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(symbol);
        return new Dim(-1, symbol);
    }

    /// <summary>A fixed size converts implicitly.</summary>
    public static implicit operator Dim(long size) => Fixed(size);

    /// <summary>A name converts implicitly to a dynamic axis.</summary>
    public static implicit operator Dim(string symbol) => Dynamic(symbol);

    /// <inheritdoc />
    public override string ToString() => Symbol ?? Size.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
