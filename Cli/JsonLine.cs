using System.Text;
using System.Text.Json;

namespace SynthVlm.Cli;

/// <summary>One JSON object per output line, as every command prints its results.</summary>
internal static class JsonLine
{
    /// <summary>Writes one object with <paramref name="write"/> filling its members; non-ASCII text stays readable.</summary>
    public static string Of(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
