using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace SynthVlm.Hallucination.Reports;

/// <summary>
/// Which captioner a report measured: an in-process checkpoint (its path and a SHA-256 of its content) or an
/// OpenAI-compatible endpoint (its URL and the model it serves; an endpoint's weights cannot be hashed from here).
/// </summary>
/// <param name="Kind"><see cref="InProcess"/> or <see cref="Endpoint"/>.</param>
/// <param name="Checkpoint">The checkpoint folder or file (in-process), else null.</param>
/// <param name="ContentSha256">
/// The checkpoint's content hash (in-process): SHA-256 over every file under the folder in ordinal order of its
/// relative path ('/'-separated), each contributing its path, a NUL, its length as 8 little-endian bytes and its bytes;
/// for a single file the same with the file name. Two folders with the same files hash the same wherever they lie.
/// </param>
/// <param name="Files">The files hashed.</param>
/// <param name="Bytes">Their total size.</param>
/// <param name="EndpointUrl">The endpoint's base URL (endpoint), else null.</param>
/// <param name="ServedModel">The model name the endpoint serves (endpoint), else null.</param>
public sealed record CaptionerIdentity(string Kind, string? Checkpoint, string? ContentSha256, long Files, long Bytes, string? EndpointUrl, string? ServedModel)
{
    /// <summary>The kind of an in-process checkpoint.</summary>
    public const string InProcess = "in-process";

    /// <summary>The kind of an OpenAI-compatible endpoint.</summary>
    public const string Endpoint = "endpoint";

    /// <summary>
    /// The identity of <paramref name="checkpoint"/> (a folder or one file), hashing its content: this reads every byte
    /// once (a 7B checkpoint of ~15 GB takes as long as reading it from disk), streamed through a 1 MiB buffer.
    /// </summary>
    /// <exception cref="FileNotFoundException">Neither a folder nor a file is there (named).</exception>
    public static async Task<CaptionerIdentity> ForCheckpointAsync(string checkpoint, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(checkpoint);
        var full = Path.GetFullPath(checkpoint);
        List<(string Relative, string Path)> files;
        if (Directory.Exists(full))
        {
            files = [.. Directory.EnumerateFiles(full, "*", SearchOption.AllDirectories)
                .Select(f => (Path.GetRelativePath(full, f).Replace('\\', '/'), f))
                .OrderBy(f => f.Item1, StringComparer.Ordinal)];
        }
        else if (File.Exists(full))
        {
            files = [(Path.GetFileName(full), full)];
        }
        else
        {
            throw new FileNotFoundException($"checkpoint {checkpoint}: no such folder or file.", checkpoint);
        }
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        long total = 0;
        foreach (var (relative, path) in files)
        {
            await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
            hash.AppendData(Encoding.UTF8.GetBytes(relative));
            hash.AppendData([0]);
            var length = new byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(length, stream.Length);
            hash.AppendData(length);
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                total += read;
            }
        }
        return new CaptionerIdentity(InProcess, full, Convert.ToHexStringLower(hash.GetHashAndReset()), files.Count, total, null, null);
    }

    /// <summary>The identity of a served model.</summary>
    public static CaptionerIdentity ForEndpoint(Uri endpoint, string servedModel)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentException.ThrowIfNullOrWhiteSpace(servedModel);
        return new CaptionerIdentity(Endpoint, null, null, 0, 0, endpoint.ToString(), servedModel);
    }

    /// <summary>A checkpoint named by path only (no hash): what a caller records when hashing is not wanted.</summary>
    public static CaptionerIdentity ForCheckpointPath(string checkpoint)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(checkpoint);
        return new CaptionerIdentity(InProcess, Path.GetFullPath(checkpoint), null, 0, 0, null, null);
    }

    /// <summary>The identity as the report writes it.</summary>
    public JsonObject ToJson()
    {
        var json = new JsonObject { ["kind"] = Kind };
        if (Kind == Endpoint)
        {
            json["endpoint"] = EndpointUrl;
            json["served_model"] = ServedModel;
            return json;
        }
        json["path"] = Checkpoint;
        json["sha256"] = ContentSha256;
        if (ContentSha256 is not null)
        {
            json["hash"] = "sha256 over the files in ordinal order of relative path: path, NUL, int64 LE length, bytes";
            json["files"] = Files;
            json["bytes"] = Bytes;
        }
        return json;
    }

    /// <summary>One line naming the captioner (for the Markdown table's heading).</summary>
    public string Describe() => Kind == Endpoint
        ? $"{ServedModel} at {EndpointUrl}"
        : ContentSha256 is { } sha ? string.Create(CultureInfo.InvariantCulture, $"{Checkpoint} (sha256 {sha[..12]}…)") : Checkpoint!;
}
