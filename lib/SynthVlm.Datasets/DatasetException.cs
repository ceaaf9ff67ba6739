namespace SynthVlm.Datasets;

/// <summary>
/// A dataset could not be written: the output folder holds something else, an item is unusable
/// (its id, caption or scores), or its image could not be read or converted. The message names
/// the folder or the item and says what was wrong.
/// </summary>
public sealed class DatasetException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public DatasetException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public DatasetException(string message, Exception? innerException) : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public DatasetException() : base("The dataset could not be written.")
    {
    }
}
