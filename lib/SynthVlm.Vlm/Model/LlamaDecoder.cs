using TorchSharp;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Model;

/// <summary>
/// LLaMA's decoder as transformers' LlamaForCausalLM names it (<c>model.embed_tokens</c>,
/// <c>model.layers.N.{self_attn,mlp,input_layernorm,post_attention_layernorm}</c>, <c>model.norm</c>,
/// <c>lm_head</c>): RMSNorm, rotary embeddings (rotate-half), grouped-query attention, SwiGLU.
/// </summary>
internal sealed class LlamaDecoder : nn.Module
{
    private readonly LlamaConfig config;
    private readonly EmbeddingLayer embedTokens;
    private readonly IndexedModules<LlamaDecoderLayer> layers;
    private readonly RmsNormLayer norm;
    private readonly LinearLayer lmHead;
    private readonly Tensor inverseFrequencies;

    public LlamaDecoder(string name, LlamaConfig config, ParameterFactory factory)
        : base(name)
    {
        this.config = config;
        embedTokens = new EmbeddingLayer("embed_tokens", config.VocabSize, config.HiddenSize, factory);
        layers = new IndexedModules<LlamaDecoderLayer>(
            "layers",
            Enumerable.Range(0, config.NumHiddenLayers).Select(i => new LlamaDecoderLayer(i, config, factory)));
        norm = new RmsNormLayer("norm", config.HiddenSize, config.RmsNormEps, factory);
        var model = new Container("model");
        model.Add("embed_tokens", embedTokens);
        model.Add("layers", layers);
        model.Add("norm", norm);
        register_module("model", model);
        lmHead = new LinearLayer("lm_head", config.HiddenSize, config.VocabSize, false, factory);
        register_module("lm_head", lmHead);
        // inv_freq[i] = 1 / theta^(2i/d), in float64 then float32 as transformers computes it; not a parameter.
        var headDim = config.HeadDim;
        inverseFrequencies = TensorOps.PowerOf(config.RopeTheta, TensorOps.Range(0, headDim, 2).to_type(ScalarType.Float32).Over(headDim))
            .reciprocal().to(factory.Device).DetachFromDisposeScope();
    }

    public LlamaConfig Config => config;

    public IReadOnlyList<LlamaDecoderLayer> Layers => layers.Items;

    public EmbeddingLayer EmbedTokens => embedTokens;

    /// <summary>
    /// Whether <see cref="Forward"/> checkpoints each layer (<see cref="DecoderLayerCheckpoint"/>)
    /// when grad is enabled and no cache is used: activations are recomputed in backward.
    /// </summary>
    public bool GradientCheckpointing { get; set; }

    public LinearLayer LmHead => lmHead;

    /// <summary>Embeddings of token ids [B, T] → [B, T, H].</summary>
    public Tensor Embed(Tensor ids) => embedTokens.Forward(ids);

    /// <summary>
    /// Runs the decoder on <paramref name="inputsEmbeds"/> [B, T, H] at <paramref name="positionIds"/>
    /// [B, T]; <paramref name="attentionMask"/> [B, past + T] is 1 for real tokens and 0 for padding.
    /// With a <paramref name="cache"/>, keys and values of earlier calls are attended to and this
    /// call's are appended. Returns the final hidden states [B, T, H] (before lm_head).
    /// </summary>
    public Tensor Forward(Tensor inputsEmbeds, Tensor attentionMask, Tensor positionIds, KeyValueCache? cache = null)
    {
        using var scope = NewDisposeScope();
        var length = inputsEmbeds.shape[1];
        var past = cache?.Length ?? 0;
        // Right padding without a cache (training, loss): causal masking alone keeps every real
        // query off the padding after it, so SDPA runs is_causal without a mask tensor and may pick
        // its flash kernel on CUDA. Rows of padding compute values no loss reads. An empty tensor
        // stands for "causal only" so the checkpoint function can save it like a mask.
        var mask = past == 0 && IsRightPadded(attentionMask)
            ? empty(0, inputsEmbeds.dtype, inputsEmbeds.device)
            : AdditiveMask(attentionMask, length, past, inputsEmbeds.dtype);
        var (cos, sin) = Rotary(positionIds, inputsEmbeds.dtype);
        var hidden = inputsEmbeds;
        var checkpoint = GradientCheckpointing && cache is null && is_grad_enabled();
        for (var i = 0; i < layers.Items.Count; i++)
        {
            hidden = checkpoint
                ? DecoderLayerCheckpoint.Run(layers.Items[i], hidden, mask, cos, sin)
                : layers.Items[i].Forward(hidden, mask, cos, sin, cache?.Layer(i));
        }
        cache?.Advance(length);
        return norm.Forward(hidden).MoveToOuterDisposeScope();
    }

    /// <summary>Whether every row of the mask is ones followed by zeros (real tokens first).</summary>
    private static bool IsRightPadded(Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        var mask = attentionMask.to_type(ScalarType.Int64);
        var startsReal = mask.select(1, 0).EqualTo(1).all();
        var neverRises = mask.shape[1] < 2 || mask.diff(dim: 1).AtMost(0).all().item<bool>();
        return startsReal.item<bool>() && neverRises;
    }

    /// <summary>lm_head on hidden states, logits upcast to float32 as LLaVA's LlamaForCausalLM does.</summary>
    public Tensor Logits(Tensor hidden) => lmHead.Forward(hidden).to_type(ScalarType.Float32);

    /// <summary>
    /// [B, 1, T, past+T] additive mask: 0 where query i may see key j (j ≤ past + i and key j is not
    /// padding), the dtype's lowest value elsewhere (transformers' eager convention, so a row that
    /// sees nothing stays finite).
    /// </summary>
    private static Tensor AdditiveMask(Tensor attentionMask, long length, long past, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var device = attentionMask.device;
        var total = past + length;
        var queries = TensorOps.Range(past, total, device: device).unsqueeze(1);
        var keys = TensorOps.Range(0, total, device: device).unsqueeze(0);
        var causal = keys.le(queries).unsqueeze(0).unsqueeze(0);
        var notPadding = attentionMask.to_type(ScalarType.Bool).view(attentionMask.shape[0], 1, 1, total);
        var allowed = causal.logical_and(notPadding);
        var lowest = dtype switch
        {
            ScalarType.Float16 => -65504.0,
            ScalarType.BFloat16 => -3.3895313892515355e38,
            ScalarType.Float64 => double.MinValue,
            _ => float.MinValue,
        };
        return zeros(allowed.shape, dtype, device).FillWhere(allowed.logical_not(), lowest).MoveToOuterDisposeScope();
    }

    private (Tensor Cos, Tensor Sin) Rotary(Tensor positionIds, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var freqs = positionIds.to_type(ScalarType.Float32).unsqueeze(-1).mul(inverseFrequencies.view(1, 1, -1));
        var angles = cat([freqs, freqs], -1).unsqueeze(1);
        var cos = angles.cos().to_type(dtype).MoveToOuterDisposeScope();
        var sin = angles.sin().to_type(dtype).MoveToOuterDisposeScope();
        return (cos, sin);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inverseFrequencies.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>One LLaMA layer: x + attn(RMSNorm(x)), then x + SwiGLU(RMSNorm(x)).</summary>
internal sealed class LlamaDecoderLayer : nn.Module
{
    private readonly int heads;
    private readonly int keyValueHeads;
    private readonly int headDim;

    public LlamaDecoderLayer(int index, LlamaConfig config, ParameterFactory factory)
        : base($"layer{index}")
    {
        heads = config.NumAttentionHeads;
        keyValueHeads = config.NumKeyValueHeads;
        headDim = config.HeadDim;
        var width = config.HiddenSize;
        QProj = new LinearLayer("q_proj", width, heads * headDim, false, factory);
        KProj = new LinearLayer("k_proj", width, keyValueHeads * headDim, false, factory);
        VProj = new LinearLayer("v_proj", width, keyValueHeads * headDim, false, factory);
        OProj = new LinearLayer("o_proj", heads * headDim, width, false, factory);
        var attention = new Container("self_attn");
        attention.Add("q_proj", QProj);
        attention.Add("k_proj", KProj);
        attention.Add("v_proj", VProj);
        attention.Add("o_proj", OProj);
        GateProj = new LinearLayer("gate_proj", width, config.IntermediateSize, false, factory);
        UpProj = new LinearLayer("up_proj", width, config.IntermediateSize, false, factory);
        DownProj = new LinearLayer("down_proj", config.IntermediateSize, width, false, factory);
        var mlp = new Container("mlp");
        mlp.Add("gate_proj", GateProj);
        mlp.Add("up_proj", UpProj);
        mlp.Add("down_proj", DownProj);
        InputLayerNorm = new RmsNormLayer("input_layernorm", width, config.RmsNormEps, factory);
        PostAttentionLayerNorm = new RmsNormLayer("post_attention_layernorm", width, config.RmsNormEps, factory);
        register_module("self_attn", attention);
        register_module("mlp", mlp);
        register_module("input_layernorm", InputLayerNorm);
        register_module("post_attention_layernorm", PostAttentionLayerNorm);
    }

    public LinearLayer QProj { get; }

    public LinearLayer KProj { get; }

    public LinearLayer VProj { get; }

    public LinearLayer OProj { get; }

    public LinearLayer GateProj { get; }

    public LinearLayer UpProj { get; }

    public LinearLayer DownProj { get; }

    public RmsNormLayer InputLayerNorm { get; }

    public RmsNormLayer PostAttentionLayerNorm { get; }

    /// <summary>Whether a parameter of the layer or of an adapter on one of its linear layers requires grad.</summary>
    public bool HasTrainableParameters =>
        parameters().Any(p => p.requires_grad)
        || new[] { QProj, KProj, VProj, OProj, GateProj, UpProj, DownProj }.Any(l => l.Adapter?.RequiresGrad == true);

    public Tensor Forward(Tensor hidden, Tensor mask, Tensor cos, Tensor sin, LayerCache? cache)
    {
        using var scope = NewDisposeScope();
        var batch = hidden.shape[0];
        var length = hidden.shape[1];

        var x = InputLayerNorm.Forward(hidden);
        var q = QProj.Forward(x).view(batch, length, heads, headDim).transpose(1, 2);
        var k = KProj.Forward(x).view(batch, length, keyValueHeads, headDim).transpose(1, 2);
        var v = VProj.Forward(x).view(batch, length, keyValueHeads, headDim).transpose(1, 2);
        q = q.mul(cos).Plus(RotateHalf(q).mul(sin));
        k = k.mul(cos).Plus(RotateHalf(k).mul(sin));
        if (cache is not null)
        {
            (k, v) = cache.Append(k, v);
        }
        if (keyValueHeads != heads)
        {
            // Each key/value head serves heads / keyValueHeads consecutive query heads (transformers' repeat_kv).
            k = k.repeat_interleave(heads / keyValueHeads, dim: 1);
            v = v.repeat_interleave(heads / keyValueHeads, dim: 1);
        }
        var attended = (mask.numel() == 0
                ? nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true)
                : nn.functional.scaled_dot_product_attention(q, k, v, mask))
            .transpose(1, 2).reshape(batch, length, heads * headDim);
        hidden = hidden.Plus(OProj.Forward(attended));

        x = PostAttentionLayerNorm.Forward(hidden);
        var gated = nn.functional.silu(GateProj.Forward(x)).mul(UpProj.Forward(x));
        return hidden.Plus(DownProj.Forward(gated)).MoveToOuterDisposeScope();
    }

    private static Tensor RotateHalf(Tensor x)
    {
        var half = x.shape[^1] / 2;
        return cat([x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)], -1);
    }
}
