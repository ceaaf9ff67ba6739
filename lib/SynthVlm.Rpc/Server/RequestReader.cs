using System.Buffers;
using System.IO.Pipelines;
using Google.Protobuf;

namespace SynthVlm.Rpc;

/// <summary>Reads the single request message of a unary or server-streaming call from Kestrel's body pipe.</summary>
internal static class RequestReader
{
    private const string Side = "request";

    /// <summary>
    /// Messages up to this size wait in the pipe until complete and are parsed in place; larger
    /// ones are copied out as they arrive, so consuming keeps HTTP/2 flow-control windows open.
    /// </summary>
    private const int InPlaceLimit = 64 * 1024;

    public static async ValueTask<T> ReadSingleAsync<T>(PipeReader reader, MessageParser<T> parser, string? encoding, int? maxSize, CancellationToken cancellationToken)
        where T : IMessage<T>
    {
        T? message = default;
        var have = false;
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (have)
            {
                if (!buffer.IsEmpty)
                {
                    reader.AdvanceTo(buffer.End);
                    throw new RpcException(RpcStatusCode.Unimplemented, "Expected exactly one request message for this method but received more.");
                }
                if (result.IsCompleted)
                {
                    return message!;
                }
                reader.AdvanceTo(buffer.End);
                continue;
            }

            if (!GrpcProtocol.TryReadHeader(buffer, out var flag, out var length))
            {
                if (result.IsCompleted)
                {
                    reader.AdvanceTo(buffer.End);
                    throw buffer.IsEmpty
                        ? new RpcException(RpcStatusCode.Unimplemented, "Expected exactly one request message for this method but received none.")
                        : new RpcException(RpcStatusCode.Internal, "Incomplete request message: the stream ended inside the 5-byte message header.");
                }
                reader.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            var compression = MessageCodec.ResolveCompression(flag, encoding, "Request");
            MessageCodec.CheckReceiveSize(length, maxSize, Side);
            var frameLength = GrpcProtocol.HeaderSize + (long)length;
            if (buffer.Length >= frameLength)
            {
                var payload = buffer.Slice(GrpcProtocol.HeaderSize, length);
                try
                {
                    message = compression is null
                        ? MessageCodec.Parse(parser, payload, Side)
                        : ParseCompressed(parser, compression, payload.ToArray(), (int)length, maxSize);
                }
                finally
                {
                    reader.AdvanceTo(payload.End);
                }
                have = true;
                continue;
            }
            if (result.IsCompleted)
            {
                reader.AdvanceTo(buffer.End);
                throw new RpcException(RpcStatusCode.Internal,
                    $"Incomplete request message: header announced {length} bytes but the stream ended after {buffer.Length - GrpcProtocol.HeaderSize}.");
            }
            if (length <= InPlaceLimit)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            message = await ReadLargeAsync(reader, buffer, parser, compression, (int)length, maxSize, cancellationToken).ConfigureAwait(false);
            have = true;
        }
    }

    private static async ValueTask<T> ReadLargeAsync<T>(PipeReader reader, ReadOnlySequence<byte> buffer, MessageParser<T> parser, string? compression, int length, int? maxSize, CancellationToken cancellationToken)
        where T : IMessage<T>
    {
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var available = buffer.Slice(GrpcProtocol.HeaderSize);
            available.CopyTo(rented);
            var filled = (int)available.Length;
            reader.AdvanceTo(buffer.End);
            while (filled < length)
            {
                var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                var chunk = result.Buffer;
                var take = (int)Math.Min(chunk.Length, length - filled);
                chunk.Slice(0, take).CopyTo(rented.AsSpan(filled));
                filled += take;
                reader.AdvanceTo(chunk.GetPosition(take));
                if (filled < length && result.IsCompleted)
                {
                    throw new RpcException(RpcStatusCode.Internal,
                        $"Incomplete request message: header announced {length} bytes but the stream ended after {filled}.");
                }
            }
            return compression is null
                ? MessageCodec.Parse(parser, rented.AsSpan(0, length), Side)
                : ParseCompressed(parser, compression, rented, length, maxSize);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static T ParseCompressed<T>(MessageParser<T> parser, string compression, byte[] compressed, int length, int? maxSize)
        where T : IMessage<T>
    {
        var plain = MessageCodec.Decompress(compression, compressed, length, maxSize, Side);
        return MessageCodec.Parse(parser, plain.AsSpan(), Side);
    }
}
