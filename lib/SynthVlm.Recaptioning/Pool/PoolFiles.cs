using System.Globalization;

namespace SynthVlm.Recaptioning.Pool;

/// <summary>
/// The file names of a recaption output: in <c>{folder}</c>, the pool as <c>{prefix}.jsonl</c> (shard size 0) or as
/// shards <c>{prefix}-00000.jsonl</c>, <c>{prefix}-00001.jsonl</c>, …; the rejects log <c>{prefix}.rejects.jsonl</c>;
/// the summary <c>{prefix}.summary.json</c>; and <c>{prefix}.spool/</c>, where images read from containers wait as
/// files while the captioner reads them.
/// </summary>
/// <param name="Folder">The output folder (full path).</param>
/// <param name="Prefix">The file-name prefix.</param>
/// <param name="ShardSize">Captions per shard; 0 writes one file.</param>
public sealed record PoolFiles(string Folder, string Prefix, int ShardSize)
{
    /// <summary>The pool file of shard <paramref name="index"/> (the one file when <see cref="ShardSize"/> is 0).</summary>
    public string Shard(int index) => ShardSize == 0
        ? Path.Combine(Folder, Prefix + ".jsonl")
        : Path.Combine(Folder, string.Create(CultureInfo.InvariantCulture, $"{Prefix}-{index:D5}.jsonl"));

    /// <summary>The rejects log.</summary>
    public string Rejects => Path.Combine(Folder, Prefix + ".rejects.jsonl");

    /// <summary>The summary written when a run ends.</summary>
    public string Summary => Path.Combine(Folder, Prefix + ".summary.json");

    /// <summary>The spool folder for container images.</summary>
    public string Spool => Path.Combine(Folder, Prefix + ".spool");

    /// <summary>The pool files that exist, in order (shard 0, 1, … up to the first missing one).</summary>
    public IReadOnlyList<string> ExistingShards()
    {
        var list = new List<string>();
        if (ShardSize == 0)
        {
            if (File.Exists(Shard(0)))
            {
                list.Add(Shard(0));
            }
            return list;
        }
        for (var i = 0; File.Exists(Shard(i)); i++)
        {
            list.Add(Shard(i));
        }
        return list;
    }
}
