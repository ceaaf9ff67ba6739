namespace SynthVlm.Diffusion;

/// <summary>A model folder does not match the SDXL contract, or a generation failed (NaN latents).</summary>
public sealed class DiffusionException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DiffusionException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with the underlying error.</summary>
    public DiffusionException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public DiffusionException() : base("Image generation failed.")
    {
    }
}
