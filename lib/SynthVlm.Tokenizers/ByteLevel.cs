namespace SynthVlm.Tokenizers;

/// <summary>
/// GPT-2's reversible byte-to-character map used by CLIP: printable Latin-1 bytes map to
/// themselves, the other 68 bytes to U+0100 onwards in byte order, so every byte sequence becomes
/// a printable string and no vocabulary entry ever holds a control character or a space.
/// </summary>
internal static class ByteLevel
{
    /// <summary>The character that stands for each byte.</summary>
    public static ReadOnlySpan<char> ByteToChar => ByteToCharTable;

    /// <summary>
    /// The 256 byte characters in the order CLIP's vocabulary lists them: the printable ranges
    /// first ('!'..'~', '¡'..'¬', '®'..'ÿ'), then the remapped bytes.
    /// </summary>
    public static ReadOnlySpan<char> VocabularyOrder => VocabularyOrderTable;

    private static readonly char[] ByteToCharTable = BuildByteToChar(out VocabularyOrderTable);
    private static readonly char[] VocabularyOrderTable;
    private static readonly short[] CharToByteTable = BuildCharToByte();

    /// <summary>The byte a character stands for, or -1 when it is not one of the 256 byte characters.</summary>
    public static int CharToByte(char c) => c < CharToByteTable.Length ? CharToByteTable[c] : -1;

    private static bool IsPrintable(int b) => b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;

    private static char[] BuildByteToChar(out char[] order)
    {
        var table = new char[256];
        order = new char[256];
        var n = 0;
        for (var b = 0; b < 256; b++)
        {
            if (IsPrintable(b))
            {
                table[b] = (char)b;
                order[n++] = (char)b;
            }
        }
        var next = 0;
        for (var b = 0; b < 256; b++)
        {
            if (!IsPrintable(b))
            {
                table[b] = (char)(256 + next++);
                order[n++] = table[b];
            }
        }
        return table;
    }

    private static short[] BuildCharToByte()
    {
        var map = new short[256 + 68];
        Array.Fill(map, (short)-1);
        for (var b = 0; b < 256; b++)
        {
            map[ByteToCharTable[b]] = (short)b;
        }
        return map;
    }
}
