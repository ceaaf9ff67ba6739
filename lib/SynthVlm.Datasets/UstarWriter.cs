using System.Text;

namespace SynthVlm.Datasets;

/// <summary>
/// Writes a POSIX ustar archive of regular files: 512-byte headers, mode 0644, owner 0:0, mtime 0
/// (so the same members give the same bytes), data padded to 512 bytes, two zero blocks at the end.
/// Only what WebDataset needs: short ASCII names (≤ 100 bytes, no prefix field) and sizes below 8 GiB.
/// </summary>
internal sealed class UstarWriter : IAsyncDisposable
{
    private const int Block = 512;
    private const int NameLength = 100;
    private static readonly byte[] Zeros = new byte[Block * 2];

    private readonly Stream _stream;
    private readonly byte[] _header = new byte[Block];
    private bool _finished;

    public UstarWriter(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        _stream = stream;
    }

    /// <summary>Bytes written so far.</summary>
    public long Length { get; private set; }

    public async ValueTask AddFileAsync(string name, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        WriteHeader(_header, name, data.Length);
        await _stream.WriteAsync(_header, cancellationToken).ConfigureAwait(false);
        await _stream.WriteAsync(data, cancellationToken).ConfigureAwait(false);
        var padding = (Block - (data.Length % Block)) % Block;
        if (padding > 0)
        {
            await _stream.WriteAsync(Zeros.AsMemory(0, padding), cancellationToken).ConfigureAwait(false);
        }
        Length += Block + data.Length + padding;
    }

    /// <summary>Writes the end-of-archive marker (two zero blocks); the stream stays open.</summary>
    public async ValueTask FinishAsync(CancellationToken cancellationToken)
    {
        if (_finished)
        {
            return;
        }
        await _stream.WriteAsync(Zeros, cancellationToken).ConfigureAwait(false);
        Length += Zeros.Length;
        _finished = true;
    }

    public ValueTask DisposeAsync() => FinishAsync(CancellationToken.None);

    internal static void WriteHeader(Span<byte> header, string name, long size)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || name.Length > NameLength || !Ascii.IsValid(name) || name.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Tar member name '{name}' must be 1..{NameLength} ASCII characters without NUL.", nameof(name));
        }
        if (name[0] == '/' || name.Split('/').Any(s => s == ".."))
        {
            throw new ArgumentException($"Tar member name '{name}' must be relative and must not contain '..'.", nameof(name));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(size, 0x1_FFFF_FFFFL); // 11 octal digits
        header[..Block].Clear();
        Encoding.ASCII.GetBytes(name, header[..NameLength]);
        Octal(header.Slice(100, 8), 420);     // mode 0644 (C# has no octal literals)
        Octal(header.Slice(108, 8), 0);       // uid
        Octal(header.Slice(116, 8), 0);       // gid
        Octal(header.Slice(124, 12), size);   // size
        Octal(header.Slice(136, 12), 0);      // mtime: fixed, so shards are byte-reproducible
        header[156] = (byte)'0';              // typeflag: regular file
        "ustar\0"u8.CopyTo(header[257..]);    // magic
        "00"u8.CopyTo(header[263..]);         // version
        Octal(header.Slice(329, 8), 0);       // devmajor
        Octal(header.Slice(337, 8), 0);       // devminor

        // The checksum is computed with its own field read as eight spaces.
        header.Slice(148, 8).Fill((byte)' ');
        long sum = 0;
        foreach (var b in header[..Block])
        {
            sum += b;
        }
        Octal(header.Slice(148, 7), sum);     // six digits and a NUL; the eighth byte stays a space
    }

    // Writes value as zero-padded octal filling the field, with a terminating NUL in the last byte.
    private static void Octal(Span<byte> field, long value)
    {
        var digits = field.Length - 1;
        for (var i = digits - 1; i >= 0; i--)
        {
            field[i] = (byte)('0' + (value & 7));
            value >>= 3;
        }
        if (value != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(value), "Value does not fit the tar header field.");
        }
        field[digits] = 0;
    }
}
