using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace SynthVlm.Recaptioning.Preferences;

/// <summary>A preference pair: two captions of one image, the chosen one with fewer rejected claims.</summary>
/// <param name="ImageId">The image's id.</param>
/// <param name="ImagePath">The image file.</param>
/// <param name="Prompt">The captioning prompt both captions answered.</param>
/// <param name="Chosen">The sample with fewer rejected claims.</param>
/// <param name="Rejected">The sample with more.</param>
public sealed record PreferencePair(string ImageId, string ImagePath, string Prompt, PreferenceSample Chosen, PreferenceSample Rejected)
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Rejected claims of <see cref="Rejected"/> minus those of <see cref="Chosen"/> (at least the margin).</summary>
    public int ScoreGap => Rejected.Judgement.RejectedCount - Chosen.Judgement.RejectedCount;

    /// <summary>
    /// The pair as one line of JSON (no newline): <c>image_id</c>, <c>image</c>, <c>prompt</c>,
    /// <c>chosen</c> and <c>rejected</c> (the captions, as DPO trainers read them), <c>score_gap</c>,
    /// and per side <c>id</c>, <c>rejected_claims</c>, <c>words</c>, <c>temperature</c>, <c>seed</c>
    /// and the full <c>judgement</c>.
    /// </summary>
    public string ToJsonLine()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("image_id"u8, ImageId);
            writer.WriteString("image"u8, ImagePath);
            writer.WriteString("prompt"u8, Prompt);
            writer.WriteString("chosen"u8, Chosen.Caption);
            writer.WriteString("rejected"u8, Rejected.Caption);
            writer.WriteNumber("score_gap"u8, ScoreGap);
            WriteSide(writer, "chosen_info"u8, Chosen);
            WriteSide(writer, "rejected_info"u8, Rejected);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }

    private static void WriteSide(Utf8JsonWriter writer, ReadOnlySpan<byte> name, PreferenceSample sample)
    {
        writer.WriteStartObject(name);
        writer.WriteString("id"u8, sample.SampleId);
        writer.WriteNumber("rejected_claims"u8, sample.Judgement.RejectedCount);
        writer.WriteNumber("words"u8, sample.Words);
        writer.WriteNumber("temperature"u8, sample.Temperature);
        if (sample.Seed is { } seed)
        {
            writer.WriteNumber("seed"u8, seed);
        }
        else
        {
            writer.WriteNull("seed"u8);
        }
        writer.WritePropertyName("judgement"u8);
        sample.Judgement.WriteJson(writer);
        writer.WriteEndObject();
    }
}
