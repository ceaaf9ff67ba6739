using System.Collections.Concurrent;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using SynthVlm.Testing;

namespace SynthVlm.Imaging.Tests;

/// <summary>The Pillow / scikit-image fixtures written by fixtures/make_fixtures.py.</summary>
internal static class Fixtures
{
    public static string Folder { get; } = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Imaging.Tests", "fixtures");

    private static readonly Lazy<JsonElement> LazyIndex = new(() =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder, "index.json"))).RootElement);

    // Decoded once per test run: the 1024x1024 sources are used by many cases.
    private static readonly ConcurrentDictionary<string, byte[]> Decoded = new();

    public static JsonElement Index => LazyIndex.Value;

    public static IEnumerable<JsonElement> Resizes => Index.GetProperty("resizes").EnumerateArray();

    public static IEnumerable<JsonElement> SsimPairs => Index.GetProperty("ssim").EnumerateArray();

    public static IEnumerable<JsonElement> SsimScores => Index.GetProperty("ssim_score").EnumerateArray();

    public static JsonElement ImageEntry(string name) => Index.GetProperty("images").GetProperty(name);

    public static JsonElement ResizeEntry(string key) =>
        Resizes.Single(r => Key(r) == key);

    public static string Key(JsonElement resize) =>
        $"{resize.GetProperty("source").GetString()}_to_{resize.GetProperty("width").GetInt32()}x{resize.GetProperty("height").GetInt32()}_{resize.GetProperty("filter").GetString()}";

    /// <summary>Loads an entry (anything with file/width/height/sha256) as a new pooled image.</summary>
    public static RgbImage Load(JsonElement entry)
    {
        int width = entry.GetProperty("width").GetInt32();
        int height = entry.GetProperty("height").GetInt32();
        string file = entry.GetProperty("file").GetString()!;
        byte[] pixels = Decoded.GetOrAdd(file, f => Decode(f, width, height, entry.GetProperty("sha256").GetString()!));
        return RgbImage.FromPixels(width, height, pixels);
    }

    public static RgbImage LoadImage(string name) => Load(ImageEntry(name));

    private static byte[] Decode(string file, int width, int height, string sha256)
    {
        using var stream = new GZipStream(File.OpenRead(Path.Combine(Folder, file)), CompressionMode.Decompress);
        var pixels = new byte[width * height * RgbImage.Channels];
        stream.ReadExactly(pixels);
        int stride = width * RgbImage.Channels;
        // Undo the PNG Sub filter the generator applied (row-wise, per channel).
        for (int y = 0; y < height; y++)
        {
            var row = pixels.AsSpan(y * stride, stride);
            for (int i = RgbImage.Channels; i < stride; i++)
            {
                row[i] = (byte)(row[i] + row[i - RgbImage.Channels]);
            }
        }
        Convert.ToHexStringLower(SHA256.HashData(pixels)).Should().Be(sha256, $"fixture {file} must decode to the bytes the generator hashed");
        return pixels;
    }
}
