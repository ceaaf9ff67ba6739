using SynthVlm.Captions.Internal;

namespace SynthVlm.Captions;

/// <summary>
/// Streams the records of a caption pool (SynthVLM JSON, JSON Lines, CSV/TSV, LLaVA JSON or an imagefolder) without
/// loading the file: memory is bounded by one record (four times <see cref="CaptionPoolOptions.MaxCaptionBytes"/>)
/// whatever the file's size.
/// </summary>
/// <remarks>
/// <para>Bad records become <see cref="PoolReject"/>s in file order and reading goes on, with one exception: a syntax error
/// in a JSON array (SynthVLM or LLaVA) is reported as a reject at its line and ends the pass, because an array cannot be
/// resynchronised after it. JSON Lines and CSV/TSV resume at the next line.</para>
/// <para>Bytes that are not UTF-8 are replaced with U+FFFD and flagged in <see cref="PoolCaption.HadInvalidUtf8"/>.
/// A UTF-8 byte order mark is skipped, CRLF line ends are accepted, blank lines are not records, and an empty file is
/// an empty pool.</para>
/// </remarks>
public sealed class CaptionPoolReader : IDisposable, IAsyncDisposable
{
    private readonly FileStream _stream;
    private readonly CaptionPoolOptions _options;
    private int _reading;
    private bool _disposed;

    private CaptionPoolReader(string path, FileStream stream, CaptionPoolFormat format, CaptionPoolOptions options)
    {
        Path = path;
        _stream = stream;
        Format = format;
        _options = options;
    }

    /// <summary>The pool's path as given to <see cref="Open"/>.</summary>
    public string Path { get; }

    /// <summary>The format the pool is read as (never <see cref="CaptionPoolFormat.Auto"/>).</summary>
    public CaptionPoolFormat Format { get; }

    /// <summary>The largest read buffer the last pass held, in bytes; how tests hold the memory bound.</summary>
    internal int PeakBufferBytes { get; private set; }

    /// <summary>Opens a pool file (or an imagefolder) and settles its format.</summary>
    /// <param name="path">A file, or a folder holding <c>metadata.jsonl</c>.</param>
    /// <param name="options">How to read it; null for the defaults.</param>
    /// <returns>A reader; dispose it to close the file.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty or the options are invalid.</exception>
    /// <exception cref="CaptionPoolFormatException">
    /// The file or folder does not exist, the folder has no metadata.jsonl, or the content does not match the format.
    /// </exception>
    public static CaptionPoolReader Open(string path, CaptionPoolOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        options ??= new CaptionPoolOptions();
        options.Validate();
        var isFolder = Directory.Exists(path);
        if (!isFolder && !File.Exists(path))
        {
            throw CaptionPoolFormatException.For(path, "no such file or folder.");
        }
        var format = options.Format;
        if (isFolder != (format == CaptionPoolFormat.ImageFolder) && format != CaptionPoolFormat.Auto)
        {
            throw CaptionPoolFormatException.For(path, isFolder
                ? $"is a folder, which can only be read as {CaptionPoolFormat.ImageFolder}, not {format}."
                : $"is a file, but {CaptionPoolFormat.ImageFolder} needs a folder holding {KnownColumns.MetadataFile}.");
        }
        var file = isFolder ? System.IO.Path.Combine(path, KnownColumns.MetadataFile) : path;
        if (isFolder && !File.Exists(file))
        {
            throw CaptionPoolFormatException.For(path, $"the folder has no {KnownColumns.MetadataFile}.");
        }
        FileStream stream;
        try
        {
            stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CaptionPoolFormatException.For(path, $"cannot be opened: {ex.Message}", ex);
        }
        try
        {
            format = isFolder ? CaptionPoolFormat.ImageFolder : FormatSniffer.Settle(path, stream, options);
            stream.Position = 0;
            return new CaptionPoolReader(path, stream, format, options);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The pool's records in file order: each a <see cref="PoolCaption"/> or a <see cref="PoolReject"/>. Each call reads
    /// the file again from the start; one pass at a time.
    /// </summary>
    /// <param name="cancellationToken">Stops the pass with <see cref="OperationCanceledException"/> before the next record.</param>
    /// <returns>The records, read lazily.</returns>
    /// <exception cref="CaptionPoolFormatException">A file-level problem found while reading (not an array, no caption column).</exception>
    /// <exception cref="InvalidOperationException">Another pass over this reader is in progress.</exception>
    /// <exception cref="ObjectDisposedException">The reader was disposed.</exception>
    public IEnumerable<PoolRecord> Read(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return ReadCore(cancellationToken);
    }

    private IEnumerable<PoolRecord> ReadCore(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.Exchange(ref _reading, 1) != 0)
        {
            throw new InvalidOperationException($"A pass over caption pool '{Path}' is already in progress; read it once at a time.");
        }
        try
        {
            _stream.Position = 0;
            using var cursor = CreateCursor();
            try
            {
                while (true)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (!cursor.TryNext(out var record))
                    {
                        break;
                    }
                    yield return record;
                }
            }
            finally
            {
                PeakBufferBytes = cursor.PeakBufferBytes;
            }
        }
        finally
        {
            Volatile.Write(ref _reading, 0);
        }
    }

    private PoolCursor CreateCursor() => Format switch
    {
        CaptionPoolFormat.SynthVlmJson => new JsonArrayCursor(_stream, _options, Path, llava: false),
        CaptionPoolFormat.LlavaJson => new JsonArrayCursor(_stream, _options, Path, llava: true),
        CaptionPoolFormat.JsonLines => new JsonLinesCursor(_stream, _options, Path),
        CaptionPoolFormat.Csv => new DelimitedCursor(_stream, _options, Path, (byte)','),
        CaptionPoolFormat.Tsv => new DelimitedCursor(_stream, _options, Path, (byte)'\t'),
        CaptionPoolFormat.ImageFolder => new ImageFolderCursor(_stream, _options, Path),
        _ => throw new InvalidOperationException($"Unexpected format {Format}."),
    };

    /// <summary>Closes the file.</summary>
    public void Dispose()
    {
        _disposed = true;
        _stream.Dispose();
    }

    /// <summary>Closes the file.</summary>
    /// <returns>A task that completes when the file is closed.</returns>
    public ValueTask DisposeAsync()
    {
        _disposed = true;
        return _stream.DisposeAsync();
    }
}
