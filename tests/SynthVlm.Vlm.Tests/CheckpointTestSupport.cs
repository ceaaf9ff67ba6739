using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using SynthVlm.Vlm.Model;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Tests;

/// <summary>A temporary folder removed with the test.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "synthvlm-ckpt-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}

/// <summary>Forward passes and safetensors edits shared by the checkpoint tests.</summary>
internal static class CheckpointTestSupport
{
    /// <summary>The parity fixture's sequences with the image marker written as <paramref name="imageId"/>.</summary>
    public static List<LlavaSequence> Sequences(int imageId) =>
        LlavaParityTests.Sequences()
            .Select(s => new LlavaSequence(s.InputIds.Select(id => id == 512 || id == LlavaConfig.LlavaImageTokenIndex ? imageId : id).ToArray(), s.Labels))
            .ToList();

    /// <summary>Logits (float32, CPU) and loss of the fixture batch.</summary>
    public static (Tensor Logits, float Loss) Run(LlavaModel model, int imageId)
    {
        using var pixels = LlavaParityTests.Pixels();
        using var noGrad = no_grad();
        using var output = model.Forward(Sequences(imageId), pixels);
        return (output.Logits.detach().clone(), output.Loss!.item<float>());
    }

    /// <summary>Whether two tensors have the same shape and bit-equal values.</summary>
    public static bool Identical(Tensor actual, Tensor expected)
    {
        if (!actual.shape.SequenceEqual(expected.shape))
        {
            return false;
        }
        using var same = actual.eq(expected).all();
        return same.item<bool>();
    }

    /// <summary>Reads a safetensors header (JSON) and the data after it.</summary>
    public static (JsonObject Header, byte[] Data) ReadSafetensors(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var header = (JsonObject)JsonNode.Parse(bytes.AsSpan(8, length))!;
        return (header, bytes[(8 + length)..]);
    }

    /// <summary>Writes a safetensors file from a (possibly edited) header and data.</summary>
    public static void WriteSafetensors(string path, JsonObject header, byte[] data)
    {
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)json.Length);
        File.WriteAllBytes(path, [.. length, .. json, .. data]);
    }

    /// <summary>Edits the header of a safetensors file in place (the data stays as it is).</summary>
    public static void EditHeader(string path, Action<JsonObject> edit)
    {
        var (header, data) = ReadSafetensors(path);
        edit(header);
        WriteSafetensors(path, header, data);
    }

    /// <summary>Copies a folder (recursively).</summary>
    public static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
        foreach (var sub in Directory.GetDirectories(from))
        {
            CopyDirectory(sub, Path.Combine(to, Path.GetFileName(sub)));
        }
    }
}
