using System.Formats.Tar;
using System.Text;
using SynthVlm.ChatEndpoints;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Recaptioning.Tests.Recaption;

/// <summary>A temporary folder for one test, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "recaption-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}

/// <summary>Tiny images made in the test, and writers for the input layouts.</summary>
internal static class TinyImages
{
    /// <summary>A 4x3 image of one colour, encoded; <paramref name="shade"/> makes images distinct.</summary>
    public static byte[] Encoded(int shade, ImageFormat format = ImageFormat.Png, int width = 4, int height = 3)
    {
        using var image = RgbImage.Allocate(width, height);
        var pixels = image.Pixels;
        for (var i = 0; i < pixels.Length; i += 3)
        {
            pixels[i] = (byte)shade;
            pixels[i + 1] = (byte)(255 - shade);
            pixels[i + 2] = (byte)(shade * 7);
        }
        return ImageCodec.Encode(image, format);
    }

    /// <summary>Writes a PNG to <paramref name="path"/> (folders created) and returns its bytes.</summary>
    public static byte[] Write(string path, int shade)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var bytes = Encoded(shade);
        File.WriteAllBytes(path, bytes);
        return bytes;
    }

    /// <summary>A PNG cut in the middle: a corrupt image.</summary>
    public static byte[] Truncated(int shade)
    {
        var bytes = Encoded(shade);
        return bytes[..(bytes.Length / 2)];
    }

    /// <summary>Writes a tar of (member name, bytes) in order.</summary>
    public static void WriteTar(string path, IEnumerable<(string Name, byte[] Data)> members)
    {
        using var stream = File.Create(path);
        using var writer = new TarWriter(stream, TarEntryFormat.Pax);
        foreach (var (name, data) in members)
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data) };
            writer.WriteEntry(entry);
        }
    }

    public static byte[] Text(string text) => Encoding.UTF8.GetBytes(text);
}

/// <summary>An in-process captioner: answers by a function of the image's bytes; counts calls.</summary>
internal sealed class ScriptedCaptioner(Func<byte[], int, Task<string>> answer, string name = "scripted") : IChatModel
{
    private int _calls;

    public string ModelName => name;

    public int Calls => Volatile.Read(ref _calls);

    public List<ChatRequest> Requests { get; } = [];

    public static ScriptedCaptioner Constant(Func<byte[], string> caption) => new((bytes, _) => Task.FromResult(caption(bytes)));

    public async Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default)
    {
        var number = Interlocked.Increment(ref _calls);
        lock (Requests)
        {
            Requests.Add(request);
        }
        var bytes = await File.ReadAllBytesAsync(request.Messages[^1].ImagePaths![0], cancellationToken);
        return new ChatReply(await answer(bytes, number));
    }

    /// <summary>A caption that names the image by its first pixel's red value (decoded), so tests can check which image it saw.</summary>
    public static string Describe(byte[] bytes)
    {
        using var image = ImageCodec.Decode(bytes);
        return $"A tile of shade {image.Pixels[0]}.";
    }
}
