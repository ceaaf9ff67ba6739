using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Model;

/// <summary>
/// Writes safetensors files (the format of huggingface/safetensors: an 8-byte little-endian header
/// length, a JSON header naming each tensor's dtype, shape and byte range, then the raw
/// row-major bytes). The header carries <c>__metadata__: {"format": "pt"}</c>, which transformers
/// checks before it loads a file; it is padded with spaces to a multiple of 8 bytes. The output
/// depends only on the tensors and their order, so the same weights give the same bytes.
/// </summary>
internal static class SafetensorsWriter
{
    /// <summary>The safetensors dtype name of a floating type.</summary>
    public static string DTypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        _ => throw new ArgumentException($"dtype {dtype} is not one a checkpoint is saved in (Float32, Float16, BFloat16).", nameof(dtype)),
    };

    /// <summary>Bytes one element of <paramref name="dtype"/> takes.</summary>
    public static long ElementSize(ScalarType dtype) => dtype == ScalarType.Float32 ? 4 : 2;

    /// <summary>Writes <paramref name="tensors"/> (in this order) converted to <paramref name="dtype"/> to <paramref name="path"/>.</summary>
    public static void Write(string path, IReadOnlyList<(string Key, Tensor Tensor)> tensors, ScalarType dtype)
    {
        var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
        long offset = 0;
        foreach (var (key, tensor) in tensors)
        {
            var size = tensor.numel() * ElementSize(dtype);
            var shape = new JsonArray();
            foreach (var d in tensor.shape)
            {
                shape.Add(d);
            }
            header[key] = new JsonObject
            {
                ["dtype"] = DTypeName(dtype),
                ["shape"] = shape,
                ["data_offsets"] = new JsonArray(offset, offset + size),
            };
            offset += size;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = (json.Length + 7) / 8 * 8;
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        stream.Write(length);
        stream.Write(json);
        for (var i = json.Length; i < padded; i++)
        {
            stream.WriteByte((byte)' ');
        }
        foreach (var (_, tensor) in tensors)
        {
            using var scope = NewDisposeScope();
            var data = tensor.detach().to(CPU).to_type(dtype).contiguous();
            stream.Write(data.bytes);
        }
    }
}
