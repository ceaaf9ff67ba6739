namespace SynthVlm.Vlm.Training;

/// <summary>How a dataset path given by a user becomes a <see cref="TrainingDataSource"/>.</summary>
public static class TrainingDataSources
{
    /// <summary>
    /// A dataset folder (SynthVlm's output, or any folder with exactly one LLaVA JSON array; images
    /// relative to the folder) or a LLaVA JSON file (images relative to its folder).
    /// </summary>
    /// <exception cref="ArgumentException">The path is neither (the message names it and says what was found).</exception>
    public static TrainingDataSource Resolve(string path, double weight = 1.0)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = Path.GetFullPath(path);
        if (File.Exists(full))
        {
            return new TrainingDataSource(full, Path.GetDirectoryName(full)!, weight);
        }
        if (!Directory.Exists(full))
        {
            throw new ArgumentException($"dataset {path}: no such folder or file.", nameof(path));
        }
        // A SynthVlm dataset folder holds llava.json (the one JSON array) beside dataset.json (an object); any folder with one JSON array works.
        var candidates = Directory.GetFiles(full, "*.json").Where(IsJsonArray).ToList();
        return candidates.Count switch
        {
            1 => new TrainingDataSource(candidates[0], full, weight),
            0 => throw new ArgumentException($"dataset {path}: the folder has no LLaVA JSON (*.json holding a top-level array).", nameof(path)),
            _ => throw new ArgumentException($"dataset {path}: the folder has {candidates.Count} LLaVA JSONs ({string.Join(", ", candidates.Select(Path.GetFileName))}); give the file.", nameof(path)),
        };
    }

    private static bool IsJsonArray(string path)
    {
        using var stream = File.OpenRead(path);
        int b;
        while ((b = stream.ReadByte()) is ' ' or '\t' or '\r' or '\n' or 0xEF or 0xBB or 0xBF)
        {
        }
        return b == '[';
    }
}
