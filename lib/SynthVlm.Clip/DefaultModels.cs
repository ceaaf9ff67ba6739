using SynthVlm.Clip.Tiny;
using SynthVlm.Tokenizers;

namespace SynthVlm.Clip;

/// <summary>
/// The tiny model set services default to: real folder layouts and input/output contracts,
/// deterministic random weights, so every code path runs out of the box.
/// </summary>
public static class DefaultModels
{
    /// <summary>
    /// Makes sure <paramref name="directory"/> holds the tiny CLIP (model.onnx, config.json,
    /// preprocessor_config.json and the tokenizer files) and returns its full path. The folder is
    /// built beside the target and renamed into place, so replicas starting together never see a
    /// half-written model; an existing complete folder is left as it is.
    /// </summary>
    public static string EnsureTinyClip(string directory) =>
        IO.AtomicDirectory.Ensure(directory, WriteTinyClip, IsComplete);

    /// <summary>Writes the tiny CLIP into <paramref name="directory"/> (created; existing files overwritten).</summary>
    public static void WriteTinyClip(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var vocabulary = BpeTrainer.TrainTiny();
        Directory.CreateDirectory(directory);
        BpeTrainer.WriteFolder(directory, vocabulary);
        TinyClipModel.WriteFolder(directory, new TinyClipConfig { VocabSize = vocabulary.Tokens.Count });
    }

    private static bool IsComplete(string directory) =>
        new[] { ClipModel.ModelFileName, ClipModel.PreprocessorFileName, "config.json", "vocab.json", "merges.txt", "tokenizer_config.json" }
            .All(f => File.Exists(Path.Combine(directory, f)));
}
