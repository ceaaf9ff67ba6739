using System.Text;

namespace SynthVlm.Streams;

/// <summary>One work item read from a stream (fields per <see cref="KnownStreamFields"/>).</summary>
public sealed class StreamEntry
{
    /// <summary>Creates an entry.</summary>
    public StreamEntry(string id, string stream, IReadOnlyList<KeyValuePair<string, ReadOnlyMemory<byte>>> fields, long deliveryCount)
    {
        ArgumentNullException.ThrowIfNull(fields);
        Id = id;
        Stream = stream;
        Fields = fields;
        DeliveryCount = deliveryCount;
        foreach (var (name, value) in fields)
        {
            switch (name)
            {
                case KnownStreamFields.Run:
                    Run = Encoding.UTF8.GetString(value.Span);
                    break;
                case KnownStreamFields.Kind:
                    Kind = Encoding.UTF8.GetString(value.Span);
                    break;
                case KnownStreamFields.Data:
                    Data = value;
                    break;
                case KnownStreamFields.TraceParent:
                    TraceParent = Encoding.UTF8.GetString(value.Span);
                    break;
                default:
                    break;
            }
        }
    }

    /// <summary>The entry id (<c>ms-seq</c>).</summary>
    public string Id { get; }

    /// <summary>The stream it was read from.</summary>
    public string Stream { get; }

    /// <summary>The run it belongs to ("" when absent).</summary>
    public string Run { get; } = "";

    /// <summary>The payload kind ("" when absent).</summary>
    public string Kind { get; } = "";

    /// <summary>The payload (protobuf bytes).</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The producer's W3C traceparent, or null.</summary>
    public string? TraceParent { get; }

    /// <summary>How many times the group has delivered it, this delivery included.</summary>
    public long DeliveryCount { get; }

    /// <summary>Every field as stored, in order (kept so a dead letter carries them all).</summary>
    public IReadOnlyList<KeyValuePair<string, ReadOnlyMemory<byte>>> Fields { get; }

    internal static StreamEntry? From(string stream, StackExchange.Redis.StreamEntry entry, long deliveryCount)
    {
        // A deleted-but-pending entry comes back without fields.
        if (entry.IsNull || entry.Values is null)
        {
            return null;
        }
        var fields = new KeyValuePair<string, ReadOnlyMemory<byte>>[entry.Values.Length];
        for (var i = 0; i < fields.Length; i++)
        {
            fields[i] = new(entry.Values[i].Name.ToString(), (byte[]?)entry.Values[i].Value ?? []);
        }
        return new StreamEntry(entry.Id.ToString(), stream, fields, deliveryCount);
    }

    /// <summary>Reads one <c>[id, [field, value, ...]]</c> item of a raw XREADGROUP reply.</summary>
    internal static StreamEntry? FromRaw(string stream, StackExchange.Redis.RedisResult item, long deliveryCount)
    {
        var id = item[0].ToString();
        var body = item[1];
        if (body.IsNull)
        {
            return null;
        }
        var fields = new KeyValuePair<string, ReadOnlyMemory<byte>>[body.Length / 2];
        for (var i = 0; i < fields.Length; i++)
        {
            fields[i] = new(body[2 * i].ToString(), (byte[]?)body[(2 * i) + 1] ?? []);
        }
        return new StreamEntry(id, stream, fields, deliveryCount);
    }
}
