using TorchSharp;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Model;

/// <summary>
/// Reentrant gradient checkpointing of one <see cref="LlamaDecoderLayer"/> (what PyTorch's
/// torch.utils.checkpoint does with use_reentrant=True): the forward runs without building a
/// graph and keeps only the layer's inputs; the backward recomputes the layer with grad enabled
/// on a detached copy of the input, backpropagates the incoming gradient through it (the layer's
/// parameter gradients, LoRA's included, accumulate as usual) and returns the input's gradient.
/// The CPU random state is saved in forward and restored for the recomputation (on CUDA the GPU
/// generator is reseeded from it), so dropout draws the same masks twice.
/// </summary>
internal sealed class DecoderLayerCheckpoint : autograd.SingleTensorFunction<DecoderLayerCheckpoint>
{
    private const string LayerKey = "layer";
    private const string InputNeedsGradKey = "input_needs_grad";
    private const string RngStateKey = "rng_state";
    private const string CudaSeedKey = "cuda_seed";

    // The C# wrappers of the gradients handed back to the autograd engine: the engine copies the
    // tensor (one more reference) as the callback returns, so the wrapper can only be disposed
    // later — at the next checkpoint call on the same thread (the engine runs CUDA backward on its
    // own device threads, which have no dispose scope).
    [ThreadStatic]
    private static List<Tensor>? handedBack;

    /// <inheritdoc/>
    public override string Name => nameof(DecoderLayerCheckpoint);

    /// <summary>
    /// Runs <paramref name="layer"/> on <paramref name="hidden"/> checkpointed. When the input does
    /// not require grad but the layer has trainable parameters (LoRA on a frozen embedding), the
    /// input is made a grad-requiring leaf so the backward still reaches the layer; its gradient is
    /// then not returned.
    /// </summary>
    public static Tensor Run(LlamaDecoderLayer layer, Tensor hidden, Tensor mask, Tensor cos, Tensor sin)
    {
        ReleaseHandedBack();
        var inputNeedsGrad = hidden.requires_grad;
        var input = hidden;
        if (!inputNeedsGrad && layer.HasTrainableParameters)
        {
            input = hidden.detach().requires_grad_(true);
        }
        // apply() also allocates an empty tensor the size of the output for each call (TorchSharp
        // keeps it to materialise an undefined incoming gradient); this scope frees it at once, and
        // the backward, with materialisation off, never reads it.
        using var scope = NewDisposeScope();
        return apply(input, mask, cos, sin, layer, inputNeedsGrad).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(vars);
        var hidden = (Tensor)vars[0];
        var mask = (Tensor)vars[1];
        var cos = (Tensor)vars[2];
        var sin = (Tensor)vars[3];
        var layer = (LlamaDecoderLayer)vars[4];
        ctx.set_materialize_grads(false);
        ctx.save_for_backward([hidden, mask, cos, sin]);
        ctx.save_data(LayerKey, layer);
        ctx.save_data(InputNeedsGradKey, vars[5]);
        // The generator state as a managed array: save_data holds no tensors.
        using (var state = get_rng_state())
        {
            ctx.save_data(RngStateKey, state.data<byte>().ToArray());
        }
        if (hidden.device_type == DeviceType.CUDA)
        {
            // TorchSharp 0.107 cannot read the CUDA generator's state: reseed it from the CPU
            // generator (whose state is saved above) before the layer, and again with the same
            // seed before the recomputation, so dropout on the GPU draws the same masks twice.
            var seed = randint(long.MaxValue, [1], ScalarType.Int64).item<long>();
            ctx.save_data(CudaSeedKey, seed);
            cuda.manual_seed(seed);
        }
        // apply() runs this under no_grad: the layer's intermediates are freed as its scope closes.
        return layer.Forward(hidden, mask, cos, sin, null);
    }

    /// <inheritdoc/>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(grad_output);
        ReleaseHandedBack();
        if (grad_output.IsInvalid)
        {
            // No gradient reached the layer's output: nothing flows to the layer or its input.
            return [null!, null!, null!, null!, null!, null!];
        }
        var layer = (LlamaDecoderLayer)ctx.get_data(LayerKey);
        var inputNeedsGrad = (bool)ctx.get_data(InputNeedsGradKey);
        var savedState = (byte[])ctx.get_data(RngStateKey);
        Tensor? inputGrad = null;
        using (var scope = NewDisposeScope())
        {
            var saved = ctx.get_saved_variables();
            var input = saved[0].detach().requires_grad_(true);
            var currentState = get_rng_state();
            set_rng_state(tensor(savedState, ScalarType.Byte));
            if (ctx.get_data(CudaSeedKey) is long cudaSeed)
            {
                cuda.manual_seed(cudaSeed);
            }
            try
            {
                using var enableGrad = enable_grad();
                var output = layer.Forward(input, saved[1], saved[2], saved[3], null);
                output.backward([grad_output]);
            }
            finally
            {
                set_rng_state(currentState);
            }
            if (inputNeedsGrad && input.grad is { } g)
            {
                inputGrad = g.detach().DetachFromDisposeScope();
            }
        }
        // The engine's wrapper of the incoming gradient is ours to free.
        grad_output.Dispose();
        if (inputGrad is not null)
        {
            (handedBack ??= []).Add(inputGrad);
        }
        return [inputGrad!, null!, null!, null!, null!, null!];
    }

    private static void ReleaseHandedBack()
    {
        if (handedBack is { Count: > 0 })
        {
            foreach (var t in handedBack)
            {
                t.Dispose();
            }
            handedBack.Clear();
        }
    }
}
