using System.Net;
using System.Net.Http.Headers;
using SynthVlm.Testing;

namespace SynthVlm.Rpc.Tests;

/// <summary>What a raw HTTP/2 exchange returned, with the status wherever the server put it.</summary>
public sealed record RawResponse(HttpStatusCode HttpStatus, string? HeaderStatus, string? TrailerStatus, string? Message, byte[] Body, HttpResponseHeaders Headers, HttpResponseHeaders Trailers)
{
    public string? Status => HeaderStatus ?? TrailerStatus;

    public bool IsTrailersOnly => HeaderStatus is not null && Body.Length == 0 && !Trailers.Any();
}

/// <summary>Sends hand-made bytes to a gRPC path over HTTP/2, bypassing the library's client.</summary>
public sealed class RawGrpcClient : IDisposable
{
    private readonly HttpClient _client = new(new SocketsHttpHandler { UseProxy = false });
    private readonly Uri _address;

    public RawGrpcClient(Uri address) => _address = address;

    public static byte[] Frame(byte flag, byte[] message)
    {
        var frame = new byte[5 + message.Length];
        frame[0] = flag;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Length);
        message.CopyTo(frame, 5);
        return frame;
    }

    public async Task<RawResponse> SendAsync(string path, byte[] body, string contentType = "application/grpc", bool te = true, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_address, path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        if (te)
        {
            request.Headers.TryAddWithoutValidation("te", "trailers");
        }
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestTimeout.Token());
        var bytes = await response.Content.ReadAsByteArrayAsync(TestTimeout.Token());
        return new RawResponse(
            response.StatusCode,
            First(response.Headers, "grpc-status"),
            First(response.TrailingHeaders, "grpc-status"),
            First(response.Headers, "grpc-message") ?? First(response.TrailingHeaders, "grpc-message"),
            bytes,
            response.Headers,
            response.TrailingHeaders);
    }

    public void Dispose() => _client.Dispose();

    private static string? First(HttpHeaders headers, string name) =>
        headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;
}
