using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;

namespace SynthVlm.Rpc;

/// <summary>One framed request message in a pooled buffer; kept until disposal so the handler can resend it.</summary>
internal sealed class MessageContent : HttpContent
{
    private static readonly MediaTypeHeaderValue GrpcMediaType = new(GrpcProtocol.ContentType);

    private byte[]? _buffer;
    private readonly int _length;

    public MessageContent(IMessage message, int? maxSendSize)
    {
        var size = message.CalculateSize();
        MessageCodec.CheckSendSize(size, maxSendSize, "request");
        _length = GrpcProtocol.HeaderSize + size;
        _buffer = ArrayPool<byte>.Shared.Rent(_length);
        GrpcProtocol.WriteHeader(_buffer, compressed: false, size);
        message.WriteTo(_buffer.AsSpan(GrpcProtocol.HeaderSize, size));
        Headers.ContentType = GrpcMediaType;
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        stream.WriteAsync(Buffer(), 0, _length);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
        stream.WriteAsync(Buffer().AsMemory(0, _length), cancellationToken).AsTask();

    protected override void SerializeToStream(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
        stream.Write(Buffer(), 0, _length);

    protected override bool TryComputeLength(out long length)
    {
        length = _length;
        return true;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _buffer, null) is { } buffer)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        base.Dispose(disposing);
    }

    private byte[] Buffer() => _buffer ?? throw new ObjectDisposedException(nameof(MessageContent));
}
