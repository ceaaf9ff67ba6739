using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Model;

/// <summary>
/// CLIP's vision transformer as transformers' CLIPVisionModel names it (<c>vision_model.*</c>):
/// patch + class + position embeddings, pre-LayerNorm, encoder layers of pre-norm attention and
/// MLP. LLaVA reads the hidden state of <see cref="LlavaConfig.VisionFeatureLayer"/>, so only the
/// layers up to it run; <c>post_layernorm</c> and later layers are kept only so checkpoints round-trip.
/// </summary>
internal sealed class ClipVisionTower : nn.Module
{
    private readonly VisionTowerConfig config;
    private readonly VisionTransformer visionModel;

    public ClipVisionTower(string name, VisionTowerConfig config, ParameterFactory factory)
        : base(name)
    {
        this.config = config;
        visionModel = new VisionTransformer(config, factory);
        register_module("vision_model", visionModel);
    }

    /// <summary>
    /// The hidden state after <paramref name="layers"/> encoder layers (0 = the pre-LayerNormed
    /// embeddings), for pixel values [B, 3, S, S]; [B, 1 + patches, width].
    /// </summary>
    public Tensor HiddenState(Tensor pixelValues, int layers)
    {
        using var scope = NewDisposeScope();
        var hidden = visionModel.Embed(pixelValues);
        for (var i = 0; i < layers; i++)
        {
            hidden = visionModel.Layers[i].Forward(hidden);
        }
        return hidden.MoveToOuterDisposeScope();
    }

    public VisionTowerConfig Config => config;

    private sealed class VisionTransformer : nn.Module
    {
        private readonly VisionEmbeddings embeddings;
        private readonly LayerNormLayer preLayerNorm;
        private readonly IndexedModules<ClipEncoderLayer> layers;

        public VisionTransformer(VisionTowerConfig config, ParameterFactory factory)
            : base("vision_model")
        {
            embeddings = new VisionEmbeddings(config, factory);
            preLayerNorm = new LayerNormLayer("pre_layrnorm", config.HiddenSize, config.LayerNormEps, factory);
            layers = new IndexedModules<ClipEncoderLayer>(
                "layers",
                Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new ClipEncoderLayer(config, factory)));
            var encoder = new Container("encoder");
            encoder.Add("layers", layers);
            register_module("embeddings", embeddings);
            register_module("pre_layrnorm", preLayerNorm);
            register_module("encoder", encoder);
            register_module("post_layernorm", new LayerNormLayer("post_layernorm", config.HiddenSize, config.LayerNormEps, factory));
        }

        public IReadOnlyList<ClipEncoderLayer> Layers => layers.Items;

        public Tensor Embed(Tensor pixelValues) => preLayerNorm.Forward(embeddings.Forward(pixelValues));
    }

    private sealed class VisionEmbeddings : nn.Module
    {
        private readonly VisionTowerConfig config;
        private readonly Parameter classEmbedding;
        private readonly WeightOnly patchEmbedding;
        private readonly WeightOnly positionEmbedding;

        public VisionEmbeddings(VisionTowerConfig config, ParameterFactory factory)
            : base("embeddings")
        {
            this.config = config;
            classEmbedding = factory.Create(config.HiddenSize);
            patchEmbedding = new WeightOnly("patch_embedding", factory.Create(config.HiddenSize, 3, config.PatchSize, config.PatchSize));
            positionEmbedding = new WeightOnly("position_embedding", factory.Create(config.PositionCount, config.HiddenSize));
            register_parameter("class_embedding", classEmbedding);
            register_module("patch_embedding", patchEmbedding);
            register_module("position_embedding", positionEmbedding);
        }

        public Tensor Forward(Tensor pixelValues)
        {
            using var scope = NewDisposeScope();
            var batch = pixelValues.shape[0];
            var patches = nn.functional.conv2d(
                pixelValues.to_type(patchEmbedding.Weight.dtype),
                patchEmbedding.Weight,
                strides: [config.PatchSize, config.PatchSize]);
            var tokens = patches.flatten(2).transpose(1, 2);
            var cls = classEmbedding.view(1, 1, -1).expand(batch, 1, -1);
            var embeddings = cat([cls, tokens], 1).Plus(positionEmbedding.Weight.unsqueeze(0));
            return embeddings.MoveToOuterDisposeScope();
        }
    }
}

/// <summary>A module holding one <c>weight</c> (a convolution without bias, a position table).</summary>
internal sealed class WeightOnly : nn.Module
{
    public WeightOnly(string name, Parameter weight)
        : base(name)
    {
        Weight = weight;
        register_parameter("weight", weight);
    }

    public Parameter Weight { get; }
}

/// <summary>A named container for child modules that have no forward of their own (e.g. <c>encoder</c>).</summary>
internal sealed class Container : nn.Module
{
    public Container(string name)
        : base(name)
    {
    }

    public void Add(string name, nn.Module module) => register_module(name, module);
}

/// <summary>One CLIP encoder layer: x + attn(LN1(x)), then x + mlp(LN2(x)).</summary>
internal sealed class ClipEncoderLayer : nn.Module
{
    private readonly LayerNormLayer layerNorm1;
    private readonly LayerNormLayer layerNorm2;
    private readonly LinearLayer qProj;
    private readonly LinearLayer kProj;
    private readonly LinearLayer vProj;
    private readonly LinearLayer outProj;
    private readonly LinearLayer fc1;
    private readonly LinearLayer fc2;
    private readonly int heads;
    private readonly bool quickGelu;

    public ClipEncoderLayer(VisionTowerConfig config, ParameterFactory factory)
        : base("layer")
    {
        heads = config.NumAttentionHeads;
        quickGelu = config.HiddenAct == "quick_gelu";
        var width = config.HiddenSize;
        qProj = new LinearLayer("q_proj", width, width, true, factory);
        kProj = new LinearLayer("k_proj", width, width, true, factory);
        vProj = new LinearLayer("v_proj", width, width, true, factory);
        outProj = new LinearLayer("out_proj", width, width, true, factory);
        var attention = new Container("self_attn");
        attention.Add("k_proj", kProj);
        attention.Add("v_proj", vProj);
        attention.Add("q_proj", qProj);
        attention.Add("out_proj", outProj);
        fc1 = new LinearLayer("fc1", width, config.IntermediateSize, true, factory);
        fc2 = new LinearLayer("fc2", config.IntermediateSize, width, true, factory);
        var mlp = new Container("mlp");
        mlp.Add("fc1", fc1);
        mlp.Add("fc2", fc2);
        layerNorm1 = new LayerNormLayer("layer_norm1", width, config.LayerNormEps, factory);
        layerNorm2 = new LayerNormLayer("layer_norm2", width, config.LayerNormEps, factory);
        register_module("self_attn", attention);
        register_module("layer_norm1", layerNorm1);
        register_module("mlp", mlp);
        register_module("layer_norm2", layerNorm2);
    }

    public Tensor Forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var batch = hidden.shape[0];
        var length = hidden.shape[1];
        var width = hidden.shape[2];
        var headDim = width / heads;

        var x = layerNorm1.Forward(hidden);
        var q = qProj.Forward(x).view(batch, length, heads, headDim).transpose(1, 2);
        var k = kProj.Forward(x).view(batch, length, heads, headDim).transpose(1, 2);
        var v = vProj.Forward(x).view(batch, length, heads, headDim).transpose(1, 2);
        // No mask: every patch attends to every patch. SDPA scales by 1/sqrt(head_dim) as CLIP does.
        var attended = nn.functional.scaled_dot_product_attention(q, k, v)
            .transpose(1, 2).reshape(batch, length, width);
        hidden = hidden.Plus(outProj.Forward(attended));

        x = fc1.Forward(layerNorm2.Forward(hidden));
        x = quickGelu ? x.mul(torch.sigmoid(x.Times(1.702))) : nn.functional.gelu(x);
        return hidden.Plus(fc2.Forward(x)).MoveToOuterDisposeScope();
    }
}
