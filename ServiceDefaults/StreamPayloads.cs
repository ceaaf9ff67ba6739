using Google.Protobuf;
using SynthVlm.Streams;

namespace SynthVlm.ServiceDefaults;

/// <summary>The protobuf payloads of stream entries, read the one way every handler needs.</summary>
public static class StreamPayloads
{
    /// <summary>
    /// The payload of <paramref name="entry"/> as <typeparamref name="T"/>; an entry of another kind,
    /// or data that is not such a message, is a <see cref="PermanentStreamFailureException"/>
    /// (retrying cannot help: it is dead-lettered with the reason).
    /// </summary>
    public static T Parse<T>(StreamEntry entry, string kind, MessageParser<T> parser)
        where T : IMessage<T>
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(parser);
        if (entry.Kind != kind)
        {
            throw new PermanentStreamFailureException($"entry kind '{entry.Kind}' is not {kind}.");
        }
        try
        {
            return parser.ParseFrom(entry.Data.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new PermanentStreamFailureException($"data is not a {typeof(T).Name} message: {e.Message}");
        }
    }
}
