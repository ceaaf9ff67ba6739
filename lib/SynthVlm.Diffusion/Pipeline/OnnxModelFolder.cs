using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SynthVlm.Onnx;
using SynthVlm.Tokenizers;

namespace SynthVlm.Diffusion;

/// <summary>
/// Loading and checking the parts of a diffusers/optimum ONNX model folder (SDXL and SD3 alike): every
/// failure is a <see cref="DiffusionException"/> that names the file and what was expected.
/// </summary>
internal static class OnnxModelFolder
{
    /// <summary>The path of a part's model.onnx.</summary>
    public static string PathOf(string folder, string part) => Path.Combine(folder, part, "model.onnx");

    /// <summary>The path of <paramref name="relative"/> in <paramref name="folder"/>, which must exist.</summary>
    public static string Require(string folder, string relative)
    {
        var path = Path.Combine(folder, relative);
        return File.Exists(path) ? path : throw new DiffusionException($"{path}: file not found");
    }

    /// <summary>Opens a part's ONNX session.</summary>
    public static InferenceSession LoadSession(string folder, string part, OnnxSessionSettings? options, out ExecutionProvider provider)
    {
        var path = Require(folder, Path.Combine(part, "model.onnx"));
        try
        {
            return OnnxSessions.Load(path, options, out provider);
        }
        catch (OnnxRuntimeException e)
        {
            throw new DiffusionException($"{path}: ONNX Runtime cannot load it: {e.Message}", e);
        }
    }

    /// <summary>Loads the CLIP tokenizer of a tokenizer sub-folder.</summary>
    public static ClipTokenizer LoadClipTokenizer(string folder, string part)
    {
        var dir = Path.Combine(folder, part);
        try
        {
            return ClipTokenizer.FromFolder(dir);
        }
        catch (Exception e) when (e is TokenizerFormatException or IOException)
        {
            throw new DiffusionException($"{dir}: tokenizer unusable: {e.Message}", e);
        }
    }

    /// <summary>Parses a JSON file of the folder (model_index.json, a scheduler config).</summary>
    public static JsonDocument ParseJson(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new DiffusionException($"{path}: not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>The input <paramref name="name"/> of a session, which must be a float (or float16) tensor of <paramref name="rank"/>.</summary>
    public static NodeMetadata Expect(IReadOnlyDictionary<string, NodeMetadata> inputs, string name, string path, int rank)
    {
        if (!inputs.TryGetValue(name, out var m))
        {
            throw new DiffusionException($"{path}: input '{name}' is missing; the model has inputs [{string.Join(", ", inputs.Select(i => OnnxModelDescription.Describe(i.Key, i.Value)))}]");
        }
        if (!m.IsTensor || m.Dimensions.Length != rank || m.ElementDataType is not (TensorElementType.Float or TensorElementType.Float16))
        {
            throw new DiffusionException($"{path}: input '{name}' is {OnnxModelDescription.Describe(name, m)}; expected a float tensor of rank {rank}");
        }
        return m;
    }

    /// <summary>A session's inputs and first outputs, for error messages.</summary>
    public static string Describe(InferenceSession s) =>
        $"the model has inputs [{string.Join(", ", OnnxModelDescription.Inputs(s))}] and outputs [{string.Join(", ", OnnxModelDescription.Outputs(s).Take(6))}{(s.OutputNames.Count > 6 ? ", …" : "")}]";
}
