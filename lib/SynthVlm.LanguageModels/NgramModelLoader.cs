namespace SynthVlm.LanguageModels;

/// <summary>Opens an n-gram language model file as ARPA text or KenLM binary, decided by its content.</summary>
public static class NgramModelLoader
{
    /// <summary>
    /// Reads <paramref name="path"/>: a file that starts with KenLM's binary magic text is read with
    /// <see cref="KenLmBinaryModel.Load"/> (memory-mapped; dispose it to unmap), anything else as ARPA
    /// with <see cref="ArpaModel.Load"/>. The file name's extension plays no part.
    /// </summary>
    /// <exception cref="ArgumentException">The path is empty.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="LanguageModelFormatException">The file is neither valid ARPA nor a supported KenLM binary.</exception>
    public static INgramModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Language model '{path}' does not exist.", path);
        }
        Span<byte> start = stackalloc byte[KenLmBinaryHeader.MagicPrefix.Length];
        int read;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            read = stream.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        }
        return KenLmBinaryHeader.LooksLikeKenLmBinary(start[..read])
            ? KenLmBinaryModel.Load(path)
            : ArpaModel.Load(path);
    }
}
