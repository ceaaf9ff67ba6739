using System.Buffers;
using System.Globalization;
using System.Text;
using SynthVlm.Tokenizers.Unicode;

namespace SynthVlm.Tokenizers;

/// <summary>
/// The text side of CLIP's fast tokenizer: the normalizer (NFC, whitespace runs to one space,
/// lowercase) and the pre-split <c>'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>,
/// written as a scanner over code points because .NET's regex classifies UTF-16 units and would
/// put a supplementary-plane letter (surrogate pair) in the punctuation class.
/// </summary>
internal static class ClipText
{
    private const char DottedCapitalI = '\u0130';

    /// <summary>
    /// Normalizes <paramref name="source"/> into <paramref name="buffer"/> (pooled; grown when
    /// needed, the old one returned to the pool) and returns the length written.
    /// </summary>
    public static int Normalize(ReadOnlySpan<char> source, ref char[] buffer)
    {
        char[]? nfcBuffer = null;
        try
        {
            var nfc = source;
            if (!Nfc.IsQuickNfc(source))
            {
                nfcBuffer = ArrayPool<char>.Shared.Rent(Math.Max(2 * source.Length, 16));
                nfc = nfcBuffer.AsSpan(0, Nfc.Normalize(source, ref nfcBuffer));
            }
            // Lowercasing U+0130 yields two characters; nothing else grows.
            var needed = 2 * nfc.Length;
            if (buffer.Length < needed)
            {
                ArrayPool<char>.Shared.Return(buffer);
                buffer = ArrayPool<char>.Shared.Rent(needed);
            }
            var output = buffer.AsSpan();
            var written = 0;
            var index = 0;
            var inSpace = false;
            while (index < nfc.Length)
            {
                var c = nfc[index];
                if (c < 0x80)
                {
                    index++;
                    if (IsAsciiSpace(c))
                    {
                        if (!inSpace)
                        {
                            output[written++] = ' ';
                            inSpace = true;
                        }
                        continue;
                    }
                    inSpace = false;
                    output[written++] = char.ToLowerInvariant(c);
                    continue;
                }
                Rune.DecodeFromUtf16(nfc[index..], out var rune, out var consumed);
                index += consumed;
                if (Rune.IsWhiteSpace(rune))
                {
                    if (!inSpace)
                    {
                        output[written++] = ' ';
                        inSpace = true;
                    }
                    continue;
                }
                inSpace = false;
                if (rune.Value == DottedCapitalI)
                {
                    // Rust's char::to_lowercase applies the full mapping (i + combining dot above);
                    // .NET's invariant casing leaves U+0130 unchanged.
                    output[written++] = 'i';
                    output[written++] = '\u0307';
                    continue;
                }
                written += Rune.ToLowerInvariant(rune).EncodeToUtf16(output[written..]);
            }
            return written;
        }
        finally
        {
            if (nfcBuffer is not null)
            {
                ArrayPool<char>.Shared.Return(nfcBuffer);
            }
        }
    }

    /// <summary>Normalizes a whole string (trainer and tests; allocates).</summary>
    public static string Normalize(string text)
    {
        var buffer = ArrayPool<char>.Shared.Rent(Math.Max(2 * text.Length, 16));
        try
        {
            var length = Normalize(text, ref buffer);
            return new string(buffer, 0, length);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Finds the next pre-token at or after <paramref name="position"/> in normalized text.
    /// Whitespace between pieces is dropped, as the Split pre-tokenizer's "Removed" behaviour does.
    /// </summary>
    public static bool NextPiece(ReadOnlySpan<char> text, ref int position, out int start, out int length)
    {
        while (position < text.Length)
        {
            var kind = Classify(text, position, out var width);
            if (kind == CharKind.Space)
            {
                position += width;
                continue;
            }
            start = position;
            if (text[position] == '\'' && ContractionLength(text[position..]) is var contraction and > 0)
            {
                position += contraction;
                length = contraction;
                return true;
            }
            position += width;
            if (kind != CharKind.Number)
            {
                // Letters run on while letters follow; anything else runs on while neither space, letter nor number follows.
                while (position < text.Length && Classify(text, position, out var w) == kind)
                {
                    position += w;
                }
            }
            length = position - start;
            return true;
        }
        start = position;
        length = 0;
        return false;
    }

    private static int ContractionLength(ReadOnlySpan<char> s)
    {
        // Alternation order of the pattern: 's 't 're 've 'm 'll 'd.
        if (s.Length < 2)
        {
            return 0;
        }
        switch (s[1])
        {
            case 's' or 't' or 'm' or 'd':
                return 2;
            case 'r' or 'v' when s.Length >= 3 && s[2] == 'e':
                return 3;
            case 'l' when s.Length >= 3 && s[2] == 'l':
                return 3;
            default:
                return 0;
        }
    }

    private enum CharKind
    {
        Space,
        Letter,
        Number,
        Other,
    }

    private static CharKind Classify(ReadOnlySpan<char> text, int position, out int width)
    {
        var c = text[position];
        if (c < 0x80)
        {
            width = 1;
            return IsAsciiSpace(c) ? CharKind.Space
                : char.IsAsciiLetter(c) ? CharKind.Letter
                : char.IsAsciiDigit(c) ? CharKind.Number
                : CharKind.Other;
        }
        Rune.DecodeFromUtf16(text[position..], out var rune, out width);
        if (Rune.IsWhiteSpace(rune))
        {
            return CharKind.Space;
        }
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharKind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharKind.Number,
            _ => CharKind.Other,
        };
    }

    // \s in ASCII: tab, line feed, vertical tab, form feed, carriage return, space.
    private static bool IsAsciiSpace(char c) => c is ' ' or (>= '\t' and <= '\r');
}
