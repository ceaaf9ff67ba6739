using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Model;

/// <summary>
/// Where a module's parameters are created: uninitialised (torch.empty) on one device and dtype,
/// because every parameter is either loaded from a checkpoint or filled by an explicit
/// initialiser afterwards; building a 7B graph then costs allocations, not random numbers.
/// </summary>
/// <param name="Device">Device of every parameter.</param>
/// <param name="DType">Floating dtype of every parameter.</param>
public sealed record ParameterFactory(Device Device, ScalarType DType)
{
    /// <summary>An uninitialised trainable parameter of <paramref name="shape"/>.</summary>
    public Parameter Create(params long[] shape) =>
        new(empty(shape, DType, Device), requires_grad: true);
}

/// <summary>y = x Wᵀ + b with Hugging Face's parameter names (<c>weight</c>, <c>bias</c>).</summary>
internal sealed class LinearLayer : nn.Module
{
    public LinearLayer(string name, long inFeatures, long outFeatures, bool bias, ParameterFactory factory)
        : base(name)
    {
        Weight = factory.Create(outFeatures, inFeatures);
        register_parameter("weight", Weight);
        if (bias)
        {
            Bias = factory.Create(outFeatures);
            register_parameter("bias", Bias);
        }
    }

    public Parameter Weight { get; }

    public Parameter? Bias { get; }

    /// <summary>A LoRA adapter on this layer, when one is attached (its output is added).</summary>
    public ILinearAdapter? Adapter { get; set; }

    public Tensor Forward(Tensor input)
    {
        var output = nn.functional.linear(input, Weight, Bias);
        return Adapter is null ? output : output.PlusInPlace(Adapter.Forward(input));
    }
}

/// <summary>A low-rank delta added to a <see cref="LinearLayer"/>'s output.</summary>
internal interface ILinearAdapter
{
    /// <summary>Whether any of the adapter's tensors requires grad.</summary>
    bool RequiresGrad { get; }

    Tensor Forward(Tensor input);
}

/// <summary>LayerNorm over the last dimension (<c>weight</c>, <c>bias</c>).</summary>
internal sealed class LayerNormLayer : nn.Module
{
    private readonly long[] shape;
    private readonly double eps;

    public LayerNormLayer(string name, long size, double eps, ParameterFactory factory)
        : base(name)
    {
        shape = [size];
        this.eps = eps;
        Weight = factory.Create(size);
        Bias = factory.Create(size);
        register_parameter("weight", Weight);
        register_parameter("bias", Bias);
    }

    public Parameter Weight { get; }

    public Parameter Bias { get; }

    public Tensor Forward(Tensor input) => nn.functional.layer_norm(input, shape, Weight, Bias, eps);
}

/// <summary>LLaMA's RMSNorm: computed in float32, scaled by <c>weight</c> after casting back.</summary>
internal sealed class RmsNormLayer : nn.Module
{
    private readonly double eps;

    public RmsNormLayer(string name, long size, double eps, ParameterFactory factory)
        : base(name)
    {
        this.eps = eps;
        Weight = factory.Create(size);
        register_parameter("weight", Weight);
    }

    public Parameter Weight { get; }

    public Tensor Forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = input.to_type(ScalarType.Float32);
        var variance = x.Power(2).mean([-1], keepdim: true);
        var normalised = x.mul(rsqrt(variance.Plus(eps))).to_type(input.dtype);
        return Weight.mul(normalised).MoveToOuterDisposeScope();
    }
}

/// <summary>A lookup table (<c>weight</c>: rows × width).</summary>
internal sealed class EmbeddingLayer : nn.Module
{
    public EmbeddingLayer(string name, long rows, long width, ParameterFactory factory)
        : base(name)
    {
        Weight = factory.Create(rows, width);
        register_parameter("weight", Weight);
    }

    public Parameter Weight { get; }

    public Tensor Forward(Tensor ids) => Weight.index_select(0, ids.flatten()).view([.. ids.shape, Weight.shape[1]]);
}

/// <summary>A list of child modules named 0, 1, 2… as torch.nn.ModuleList names them.</summary>
internal sealed class IndexedModules<T> : nn.Module
    where T : nn.Module
{
    private readonly List<T> items = [];

    public IndexedModules(string name, IEnumerable<T> modules)
        : base(name)
    {
        foreach (var module in modules)
        {
            register_module(items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
            items.Add(module);
        }
    }

    public IReadOnlyList<T> Items => items;
}
