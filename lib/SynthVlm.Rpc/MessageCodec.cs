using System.Buffers;
using System.IO.Compression;
using Google.Protobuf;

namespace SynthVlm.Rpc;

/// <summary>Message framing and per-message compression shared by the server and the client.</summary>
internal static class MessageCodec
{
    public static bool IsSupportedEncoding(string encoding) =>
        encoding is "identity" or "gzip" or "deflate";

    /// <summary>Checks the compressed flag against <c>grpc-encoding</c>; returns the codec to use or null for none.</summary>
    public static string? ResolveCompression(byte flag, string? encoding, string side)
    {
        switch (flag)
        {
            case 0:
                return null;
            case 1:
                if (encoding is null or "identity")
                {
                    throw new RpcException(RpcStatusCode.Internal,
                        $"{side} message has the compressed flag set but no grpc-encoding was given.");
                }
                if (!IsSupportedEncoding(encoding))
                {
                    throw new RpcException(RpcStatusCode.Unimplemented,
                        $"Unsupported grpc-encoding '{encoding}'. Supported encodings: {GrpcProtocol.SupportedEncodings}.");
                }
                return encoding;
            default:
                throw new RpcException(RpcStatusCode.Internal, $"{side} message has an invalid compressed flag {flag} (expected 0 or 1).");
        }
    }

    public static void CheckReceiveSize(long length, int? max, string side)
    {
        if (max is { } m && length > m)
        {
            throw new RpcException(RpcStatusCode.ResourceExhausted,
                $"Received {side} message larger than max ({length} vs. {m}).");
        }
    }

    public static void CheckSendSize(int length, int? max, string side)
    {
        if (max is { } m && length > m)
        {
            throw new RpcException(RpcStatusCode.ResourceExhausted,
                $"Sending {side} message larger than max ({length} vs. {m}).");
        }
    }

    /// <summary>Decompresses one message, enforcing the receive limit on the decompressed size.</summary>
    public static byte[] Decompress(string encoding, byte[] compressed, int compressedLength, int? max, string side)
    {
        using var input = new MemoryStream(compressed, 0, compressedLength, writable: false);
        using Stream codec = encoding == "gzip"
            ? new GZipStream(input, CompressionMode.Decompress)
            : new ZLibStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int n;
            while ((n = codec.Read(chunk, 0, chunk.Length)) > 0)
            {
                output.Write(chunk, 0, n);
                CheckReceiveSize(output.Length, max, side);
            }
        }
        catch (InvalidDataException ex)
        {
            throw new RpcException(new RpcStatus(RpcStatusCode.Internal, $"Failed to decompress {side} message ({encoding})."), [], ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return output.ToArray();
    }

    public static T Parse<T>(MessageParser<T> parser, in ReadOnlySequence<byte> payload, string side)
        where T : IMessage<T>
    {
        try
        {
            return parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new RpcException(new RpcStatus(RpcStatusCode.Internal, $"Failed to deserialize {side} message."), [], ex);
        }
    }

    public static T Parse<T>(MessageParser<T> parser, ReadOnlySpan<byte> payload, string side)
        where T : IMessage<T>
    {
        try
        {
            return parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new RpcException(new RpcStatus(RpcStatusCode.Internal, $"Failed to deserialize {side} message."), [], ex);
        }
    }

    /// <summary>Writes one uncompressed frame (header, then the message straight into the writer's buffers).</summary>
    public static void WriteFrame(IBufferWriter<byte> writer, IMessage message, int? max, string side)
    {
        var size = message.CalculateSize();
        CheckSendSize(size, max, side);
        var header = writer.GetSpan(GrpcProtocol.HeaderSize);
        GrpcProtocol.WriteHeader(header, compressed: false, size);
        writer.Advance(GrpcProtocol.HeaderSize);
        if (size > 0)
        {
            message.WriteTo(writer);
        }
    }
}
