using System.Text.Json;
using SynthVlm.Testing;
using SynthVlm.Tokenizers;

namespace SynthVlm.Tokenizers.Tests;

/// <summary>The committed fixture folders and the reference ids from HF tokenizers (make_reference_ids.mjs).</summary>
internal static class Fixtures
{
    public const string Clip = "tiny_clip";
    public const string BangPad = "tiny_clip_bang_pad";

    /// <summary>Merges of the committed fixture vocabulary (BpeTrainer.TrainTiny(FixtureMerges)).</summary>
    public const int FixtureMerges = 400;

    public static string Directory { get; } = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Tokenizers.Tests", "Fixtures");

    public static string Folder(string name) => Path.Combine(Directory, name);

    private static readonly Lazy<ClipTokenizer> ClipTokenizerInstance = new(() => ClipTokenizer.FromFolder(Folder(Clip)));
    private static readonly Lazy<ClipTokenizer> BangTokenizerInstance = new(() => ClipTokenizer.FromFolder(Folder(BangPad)));

    public static ClipTokenizer ClipTokenizer => ClipTokenizerInstance.Value;

    public static ClipTokenizer BangTokenizer => BangTokenizerInstance.Value;

    public const string AddedFlags = "tiny_clip_added_flags";

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, ClipTokenizer> Loaded = new();

    public static ClipTokenizer Load(string name) => name switch
    {
        Clip => ClipTokenizer,
        BangPad => BangTokenizer,
        _ => Loaded.GetOrAdd(name, n => ClipTokenizer.FromFolder(Folder(n))),
    };

    public static IReadOnlyCollection<string> ReferenceFolders => Rows.Value.Keys.ToArray();

    public sealed record ReferenceRow(string Text, int[] Ids, int[] IdsMax77, string Decoded);

    private static readonly Lazy<IReadOnlyDictionary<string, IReadOnlyList<ReferenceRow>>> Rows = new(ReadRows);

    public static IReadOnlyList<ReferenceRow> ReferenceRows(string folder) => Rows.Value[folder];

    public static string ReferencePadToken(string folder)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Directory, "reference_ids.json")));
        return doc.RootElement.GetProperty("folders").GetProperty(folder).GetProperty("pad_token").GetString()!;
    }

    private static IReadOnlyDictionary<string, IReadOnlyList<ReferenceRow>> ReadRows()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Directory, "reference_ids.json")));
        var result = new Dictionary<string, IReadOnlyList<ReferenceRow>>();
        foreach (var folder in doc.RootElement.GetProperty("folders").EnumerateObject())
        {
            var rows = new List<ReferenceRow>();
            foreach (var row in folder.Value.GetProperty("rows").EnumerateArray())
            {
                rows.Add(new ReferenceRow(
                    row.GetProperty("text").GetString()!,
                    row.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                    row.GetProperty("ids_max77").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                    row.GetProperty("decoded").GetString()!));
            }
            result[folder.Name] = rows;
        }
        return result;
    }

    /// <summary>A temporary folder deleted on dispose.</summary>
    public sealed class TempFolder : IDisposable
    {
        public TempFolder()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "synthvlm-tok-" + Guid.NewGuid().ToString("N"));
            System.IO.Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public void Dispose()
        {
            try
            {
                System.IO.Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a leftover temp folder must not fail a test.
            }
        }
    }
}
