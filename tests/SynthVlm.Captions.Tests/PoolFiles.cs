using System.Text;

namespace SynthVlm.Captions.Tests;

/// <summary>A temporary folder for the pool files a test writes; deleted on dispose.</summary>
internal sealed class PoolFiles : IDisposable
{
    public PoolFiles()
    {
        Folder = Directory.CreateTempSubdirectory("synthvlm-captions-").FullName;
    }

    public string Folder { get; }

    public string Write(string name, string text) => Write(name, Encoding.UTF8.GetBytes(text));

    public string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(Folder, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public static List<PoolRecord> ReadAll(string path, CaptionPoolOptions? options = null)
    {
        using var reader = CaptionPoolReader.Open(path, options);
        return [.. reader.Read()];
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is not worth failing a test over.
        }
    }
}
