using static TorchSharp.torch;

namespace SynthVlm.Vlm.Model;

/// <summary>
/// Keys and values of every decoder layer for the tokens seen so far, [B, kv_heads, length, head_dim]
/// per layer. The cache owns its tensors (detached from every dispose scope) and frees them on
/// <see cref="Dispose"/> or when a step replaces them, so a generation loop's scopes never hold them.
/// </summary>
public sealed class KeyValueCache : IDisposable
{
    private readonly LayerCache[] layers;

    /// <summary>Creates an empty cache for <paramref name="layerCount"/> layers.</summary>
    public KeyValueCache(int layerCount)
    {
        layers = new LayerCache[layerCount];
        for (var i = 0; i < layerCount; i++)
        {
            layers[i] = new LayerCache();
        }
    }

    /// <summary>Tokens cached so far.</summary>
    public long Length { get; private set; }

    internal LayerCache Layer(int index) => layers[index];

    internal void Advance(long tokens) => Length += tokens;

    /// <summary>Keeps only the batch rows in <paramref name="rows"/> (e.g. after some sequences finished).</summary>
    public void SelectRows(Tensor rows)
    {
        foreach (var layer in layers)
        {
            layer.SelectRows(rows);
        }
    }

    /// <summary>Frees every cached tensor.</summary>
    public void Dispose()
    {
        foreach (var layer in layers)
        {
            layer.Dispose();
        }
    }
}

/// <summary>One layer's cached keys and values.</summary>
internal sealed class LayerCache : IDisposable
{
    private Tensor? keys;
    private Tensor? values;

    /// <summary>Appends this step's keys and values; returns the whole sequence's (scoped to the caller).</summary>
    public (Tensor Keys, Tensor Values) Append(Tensor newKeys, Tensor newValues)
    {
        var k = keys is null ? newKeys.detach().clone() : cat([keys, newKeys.detach()], 2);
        var v = values is null ? newValues.detach().clone() : cat([values, newValues.detach()], 2);
        keys?.Dispose();
        values?.Dispose();
        keys = k.DetachFromDisposeScope();
        values = v.DetachFromDisposeScope();
        // Hand the caller views in its own scope so that its disposals never free the cache.
        return (keys.alias(), values.alias());
    }

    public void SelectRows(Tensor rows)
    {
        if (keys is null || values is null)
        {
            return;
        }
        var k = keys.index_select(0, rows).DetachFromDisposeScope();
        var v = values.index_select(0, rows).DetachFromDisposeScope();
        keys.Dispose();
        values.Dispose();
        keys = k;
        values = v;
    }

    public void Dispose()
    {
        keys?.Dispose();
        values?.Dispose();
        keys = null;
        values = null;
    }
}
