namespace SynthVlm.LanguageModels;

/// <summary>
/// A SentencePiece model or ARPA file that cannot be read: names the file, the line (for text
/// formats) and what was expected.
/// </summary>
public sealed class LanguageModelFormatException : FormatException
{
    /// <summary>Creates the exception with a message only.</summary>
    public LanguageModelFormatException()
    {
        FilePath = string.Empty;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public LanguageModelFormatException(string message)
        : base(message)
    {
        FilePath = string.Empty;
    }

    /// <summary>Creates the exception with a message and the underlying cause.</summary>
    public LanguageModelFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
        FilePath = string.Empty;
    }

    /// <summary>Creates the exception for <paramref name="filePath"/>, optionally at a 1-based line.</summary>
    public LanguageModelFormatException(string filePath, long? lineNumber, string problem, Exception? innerException = null)
        : base(Describe(filePath, lineNumber, problem), innerException)
    {
        FilePath = filePath;
        LineNumber = lineNumber;
    }

    /// <summary>The file (or source name) that was being read.</summary>
    public string FilePath { get; }

    /// <summary>The 1-based line of a text format where the problem was found, when there is one.</summary>
    public long? LineNumber { get; }

    private static string Describe(string filePath, long? lineNumber, string problem) =>
        lineNumber is { } line ? $"{filePath}:{line}: {problem}" : $"{filePath}: {problem}";
}
