using System.Collections.Frozen;
using System.Text;
using System.Text.RegularExpressions;
using SynthVlm.Tokenizers.Unicode;

namespace SynthVlm.Curation.Cleaning;

/// <summary>
/// ftfy 6.3.1's <c>fix_text</c> with its default configuration (what Data-Juicer's
/// fix_unicode_mapper calls), written from ftfy's definitions over tables generated from ftfy
/// itself (<see cref="FtfyTables"/>, by make_ftfy_tables.py). See <see cref="FixUnicodeMapper"/>
/// for what is covered and what is not.
/// </summary>
internal static class Ftfy
{
    /// <summary>ftfy's max_decode_length: longer lines are fixed in pieces of this many characters.</summary>
    public const int MaxDecodeLength = 1_000_000;

    private static readonly TimeSpan NoTimeout = Regex.InfiniteMatchTimeout;

    private static readonly Regex HtmlEntity = new("&#?[0-9A-Za-z]{1,24};", RegexOptions.CultureInvariant, NoTimeout);
    private static readonly Regex Badness = new(FtfyTables.BadnessPattern, RegexOptions.IgnorePatternWhitespace | RegexOptions.CultureInvariant, NoTimeout);
    private static readonly Regex Utf8Detector = new(FtfyTables.Utf8DetectorPattern, RegexOptions.IgnorePatternWhitespace | RegexOptions.CultureInvariant, NoTimeout);
    private static readonly Regex TerminalEscape = new("\u001b\\[((?:[0-9]|;)*)([a-zA-Z])", RegexOptions.CultureInvariant, NoTimeout);

    // Byte-level patterns, run over bytes held as the characters U+0000–U+00FF.
    private static readonly Regex AGraveWord = new("\u00c3 (?! |quele|quela|quilo|s )", RegexOptions.CultureInvariant, NoTimeout);
    private static readonly Regex AlteredUtf8 = new(
        "[\u00c2\u00c3\u00c5\u00ce\u00d0\u00d9] "
        + "|[\u00e2\u00e3] [\u0080-\u0084\u0086-\u009f\u00a1-\u00bf]"
        + "|[\u00e0-\u00e3][\u0080-\u0084\u0086-\u009f\u00a1-\u00bf] "
        + "|\u00f0 [\u0080-\u00bf][\u0080-\u00bf]"
        + "|\u00f0[\u0080-\u00bf] [\u0080-\u00bf]"
        + "|\u00f0[\u0080-\u00bf][\u0080-\u00bf] ",
        RegexOptions.CultureInvariant, NoTimeout);
    private static readonly Regex LossyUtf8 = new(
        "[\u00c2-\u00df]\u001a"
        + "|[\u00c2-\u00c3][?]"
        + "|\u00ed[\u00a0-\u00af][\u001a?]\u00ed[\u00b0-\u00bf][\u001a?\u0080-\u00bf]"
        + "|\u00ed[\u00a0-\u00af][\u001a?\u0080-\u00bf]\u00ed[\u00b0-\u00bf][\u001a?]"
        + "|[\u00e0-\u00ef][\u001a?][\u001a\u0080-\u00bf]"
        + "|[\u00e0-\u00ef][\u001a\u0080-\u00bf][\u001a?]"
        + "|[\u00f0-\u00f4][\u001a?][\u001a\u0080-\u00bf][\u001a\u0080-\u00bf]"
        + "|[\u00f0-\u00f4][\u001a\u0080-\u00bf][\u001a?][\u001a\u0080-\u00bf]"
        + "|[\u00f0-\u00f4][\u001a\u0080-\u00bf][\u001a\u0080-\u00bf][\u001a?]"
        + "|\u001a",
        RegexOptions.CultureInvariant, NoTimeout);

    private static readonly FrozenDictionary<string, string> Entities = BuildEntities();
    private static readonly FrozenDictionary<int, string> InvalidCharrefs = FtfyTables.InvalidCharrefs.ToFrozenDictionary(p => p.CodePoint, p => p.Replacement);
    private static readonly FrozenSet<int> InvalidCodepoints = FtfyTables.InvalidCodepoints.ToFrozenSet();
    private static readonly FrozenDictionary<int, string> Ligatures = FtfyTables.Ligatures.ToFrozenDictionary(p => p.CodePoint, p => p.Replacement);
    private static readonly FrozenDictionary<int, string> Width = FtfyTables.Width.ToFrozenDictionary(p => p.CodePoint, p => p.Replacement);
    private static readonly FrozenSet<int> ControlChars = FtfyTables.ControlChars.ToFrozenSet();
    private static readonly Charmap[] Charmaps = [.. FtfyTables.Charmaps.Select(c => new Charmap(c.Name, c.Chars, c.Bytes))];
    private static readonly Charmap Latin1 = Charmaps.Single(c => c.Name == "latin-1");
    private static readonly Charmap Sloppy1252 = Charmaps.Single(c => c.Name == "sloppy-windows-1252");
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    // windows-1252 proper (not sloppy): the bytes it leaves undefined.
    private static readonly FrozenSet<byte> Undefined1252 = new byte[] { 0x81, 0x8D, 0x8F, 0x90, 0x9D }.ToFrozenSet();

    /// <summary>ftfy.fix_text(text) with the default TextFixerConfig.</summary>
    public static string FixText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var unescape = true;
        var output = new StringBuilder(text.Length);
        var pos = 0;
        while (pos < text.Length)
        {
            var lineBreak = text.IndexOf('\n', pos) + 1;
            if (lineBreak == 0)
            {
                lineBreak = text.Length;
            }
            if (lineBreak - pos > MaxDecodeLength)
            {
                lineBreak = pos + MaxDecodeLength;
            }
            var segment = text[pos..lineBreak];
            // ftfy's quirk: once a line holds '<', HTML unescaping stays off for every later line too.
            if (unescape && segment.Contains('<', StringComparison.Ordinal))
            {
                unescape = false;
            }
            output.Append(FixSegment(segment, unescape));
            pos = lineBreak;
        }
        return output.ToString();
    }

    /// <summary>ftfy.fix_and_explain: every fixer in order, repeated until nothing changes.</summary>
    private static string FixSegment(string text, bool unescape)
    {
        while (true)
        {
            var original = text;
            if (unescape)
            {
                text = UnescapeHtml(text);
            }
            text = FixEncoding(text);
            text = FixC1Controls(text);
            text = Translate(text, Ligatures);
            text = Translate(text, Width);
            text = UncurlQuotes(text);
            text = FixLineBreaks(text);
            text = FixSurrogates(text);
            text = TerminalEscape.Replace(text, "");
            text = RemoveControlChars(text);
            text = Nfc.Normalize(text);
            if (string.Equals(text, original, StringComparison.Ordinal))
            {
                return text;
            }
        }
    }

    /// <summary>ftfy.fixes.unescape_html: only semicolon-terminated entities, plus upper-cased Latin ones.</summary>
    public static string UnescapeHtml(string text) => text.Contains('&', StringComparison.Ordinal)
        ? HtmlEntity.Replace(text, m =>
        {
            var entity = m.Value;
            if (Entities.TryGetValue(entity, out var replacement))
            {
                return replacement;
            }
            if (entity.StartsWith("&#", StringComparison.Ordinal))
            {
                // html.unescape of the reference; kept as is unless the whole reference was consumed.
                // ftfy's quirk: a result holding ';' (as "&#59;" gives) counts as not consumed.
                return NumericReference(entity.AsSpan(2, entity.Length - 3)) is { } decoded && !decoded.Contains(';', StringComparison.Ordinal) ? decoded : entity;
            }
            return entity;
        })
        : text;

    // html._replace_charref for "&#digits;" / "&#xhex;" as html.unescape's pattern reads it; null when
    // the pattern would not consume every character up to the semicolon.
    private static string? NumericReference(ReadOnlySpan<char> body)
    {
        var hex = body.Length > 0 && (body[0] == 'x' || body[0] == 'X');
        var digits = hex ? body[1..] : body;
        if (digits.IsEmpty)
        {
            return null;
        }
        var value = System.Numerics.BigInteger.Zero;
        foreach (var c in digits)
        {
            int d;
            if (c is >= '0' and <= '9')
            {
                d = c - '0';
            }
            else if (hex && c is >= 'a' and <= 'f')
            {
                d = c - 'a' + 10;
            }
            else if (hex && c is >= 'A' and <= 'F')
            {
                d = c - 'A' + 10;
            }
            else
            {
                return null;
            }
            value = (value * (hex ? 16 : 10)) + d;
        }
        if (value <= 0x10FFFF && InvalidCharrefs.TryGetValue((int)value, out var special))
        {
            return special;
        }
        if (value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))
        {
            return "\uFFFD";
        }
        var cp = (int)value;
        return InvalidCodepoints.Contains(cp) ? "" : char.ConvertFromUtf32(cp);
    }

    /// <summary>True when ftfy's badness heuristic sees likely mojibake.</summary>
    public static bool IsBad(string text) => Badness.IsMatch(text);

    /// <summary>ftfy.fix_encoding: one step at a time until the text stops changing.</summary>
    public static string FixEncoding(string text)
    {
        while (true)
        {
            var previous = text;
            text = FixEncodingOneStep(text);
            if (string.Equals(text, previous, StringComparison.Ordinal))
            {
                return text;
            }
        }
    }

    private static string FixEncodingOneStep(string text)
    {
        if (text.Length == 0 || IsAscii(text) || !IsBad(text))
        {
            return text;
        }
        var possibleLatin1 = false;
        var possible1252 = false;
        foreach (var charmap in Charmaps)
        {
            if (!charmap.TryEncode(text, out var bytes))
            {
                continue;
            }
            possibleLatin1 |= ReferenceEquals(charmap, Latin1);
            possible1252 |= ReferenceEquals(charmap, Sloppy1252);
            if (charmap.Name != "macroman" && AlteredUtf8.IsMatch(bytes))
            {
                bytes = AlteredUtf8.Replace(AGraveWord.Replace(bytes, "\u00c3\u00a0 "), m => m.Value.Replace(' ', '\u00a0'));
            }
            if (charmap.Name.StartsWith("sloppy", StringComparison.Ordinal))
            {
                bytes = LossyUtf8.Replace(bytes, "\u00ef\u00bf\u00bd");
            }
            if (DecodeUtf8Variants(bytes) is { } decoded)
            {
                return decoded;
            }
        }
        if (Utf8Detector.IsMatch(text))
        {
            var fixedText = Utf8Detector.Replace(text, m => m.Length < text.Length && IsBad(m.Value) ? FixEncoding(m.Value) : m.Value);
            if (!string.Equals(fixedText, text, StringComparison.Ordinal))
            {
                return fixedText;
            }
        }
        if (possibleLatin1)
        {
            // Latin-1 that is not also sloppy-1252 holds C1 controls; read them as windows-1252 if it defines them all.
            if (possible1252)
            {
                return text;
            }
            Latin1.TryEncode(text, out var latin1);
            if (!latin1.Any(c => Undefined1252.Contains((byte)c)))
            {
                var fixedText = Sloppy1252.Decode(latin1);
                if (!string.Equals(fixedText, text, StringComparison.Ordinal))
                {
                    return fixedText;
                }
            }
        }
        return ContainsC1(text) ? FixC1Controls(text) : text;
    }

    /// <summary>
    /// ftfy's utf-8-variants codec (UTF-8, plus CESU-8 surrogate pairs and the overlong C0 80 for
    /// U+0000, used only when byte ED or C0 occurs) or strict UTF-8; null when the bytes are not valid.
    /// </summary>
    private static string? DecodeUtf8Variants(string bytes)
    {
        var raw = new byte[bytes.Length];
        for (var i = 0; i < raw.Length; i++)
        {
            raw[i] = (byte)bytes[i];
        }
        var variants = Array.IndexOf(raw, (byte)0xED) >= 0 || Array.IndexOf(raw, (byte)0xC0) >= 0;
        if (!variants)
        {
            return TryStrict(raw);
        }
        var output = new StringBuilder(raw.Length);
        var start = 0;
        var i0 = 0;
        while (i0 < raw.Length)
        {
            if (i0 + 5 < raw.Length + 0 && raw[i0] == 0xED && raw[i0 + 1] is >= 0xA0 and <= 0xAF && raw[i0 + 2] is >= 0x80 and <= 0xBF
                && raw[i0 + 3] == 0xED && raw[i0 + 4] is >= 0xB0 and <= 0xBF && raw[i0 + 5] is >= 0x80 and <= 0xBF)
            {
                if (TryStrict(raw.AsSpan(start, i0 - start)) is not { } before)
                {
                    return null;
                }
                output.Append(before);
                var high = 0xD000 | ((raw[i0 + 1] & 0x3F) << 6) | (raw[i0 + 2] & 0x3F);
                var low = 0xD000 | ((raw[i0 + 4] & 0x3F) << 6) | (raw[i0 + 5] & 0x3F);
                output.Append((char)high).Append((char)low);
                i0 += 6;
                start = i0;
                continue;
            }
            if (i0 + 1 < raw.Length && raw[i0] == 0xC0 && raw[i0 + 1] == 0x80)
            {
                if (TryStrict(raw.AsSpan(start, i0 - start)) is not { } before)
                {
                    return null;
                }
                output.Append(before).Append('\0');
                i0 += 2;
                start = i0;
                continue;
            }
            i0++;
        }
        if (TryStrict(raw.AsSpan(start)) is not { } rest)
        {
            return null;
        }
        return output.Append(rest).ToString();
    }

    private static string? TryStrict(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    private static bool IsAscii(string text)
    {
        foreach (var c in text)
        {
            if (c >= 0x80)
            {
                return false;
            }
        }
        return true;
    }

    private static bool ContainsC1(string text)
    {
        foreach (var c in text)
        {
            if (c is >= '\u0080' and <= '\u009f')
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>ftfy.fixes.fix_c1_controls: each C1 control read as the sloppy-windows-1252 byte it is.</summary>
    public static string FixC1Controls(string text)
    {
        if (!ContainsC1(text))
        {
            return text;
        }
        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (chars[i] is >= '\u0080' and <= '\u009f')
            {
                chars[i] = Sloppy1252.Decode(chars[i].ToString())[0];
            }
        }
        return new string(chars);
    }

    // str.translate with a code point → string map (by code point, so astral characters are one key).
    private static string Translate(string text, FrozenDictionary<int, string> map)
    {
        StringBuilder? output = null;
        var i = 0;
        while (i < text.Length)
        {
            var width = char.IsSurrogatePair(text, i) ? 2 : 1;
            var cp = width == 2 ? char.ConvertToUtf32(text[i], text[i + 1]) : text[i];
            if (map.TryGetValue(cp, out var replacement))
            {
                output ??= new StringBuilder(text.Length).Append(text, 0, i);
                output.Append(replacement);
            }
            else
            {
                output?.Append(text, i, width);
            }
            i += width;
        }
        return output?.ToString() ?? text;
    }

    private static string UncurlQuotes(string text)
    {
        var chars = text.ToCharArray();
        var changed = false;
        for (var i = 0; i < chars.Length; i++)
        {
            var c = chars[i];
            if (c is '\u02bc' or (>= '\u2018' and <= '\u201b'))
            {
                chars[i] = '\'';
                changed = true;
            }
            else if (c is >= '\u201c' and <= '\u201f')
            {
                chars[i] = '"';
                changed = true;
            }
        }
        return changed ? new string(chars) : text;
    }

    private static string FixLineBreaks(string text) => text
        .Replace("\r\n", "\n", StringComparison.Ordinal)
        .Replace('\r', '\n')
        .Replace('\u2028', '\n')
        .Replace('\u2029', '\n')
        .Replace('\u0085', '\n');

    // A .NET string keeps a valid surrogate pair as one character already; lone halves become U+FFFD.
    private static string FixSurrogates(string text)
    {
        char[]? chars = null;
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsSurrogatePair(text, i))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                chars ??= text.ToCharArray();
                chars[i] = '\uFFFD';
            }
        }
        return chars is null ? text : new string(chars);
    }

    private static string RemoveControlChars(string text)
    {
        StringBuilder? output = null;
        for (var i = 0; i < text.Length; i++)
        {
            if (ControlChars.Contains(text[i]))
            {
                output ??= new StringBuilder(text.Length).Append(text, 0, i);
            }
            else
            {
                output?.Append(text[i]);
            }
        }
        return output?.ToString() ?? text;
    }

    private static FrozenDictionary<string, string> BuildEntities()
    {
        var table = FtfyTables.HtmlEntities;
        var map = new Dictionary<string, string>(table.Length / 2, StringComparer.Ordinal);
        for (var i = 0; i < table.Length; i += 2)
        {
            map[table[i]] = table[i + 1];
        }
        return map.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>One of ftfy's single-byte encodings: which characters it can encode, to which bytes.</summary>
    private sealed class Charmap
    {
        private readonly FrozenDictionary<char, char> _encode;
        private readonly string _decode;

        public Charmap(string name, string chars, string bytes)
        {
            Name = name;
            _encode = chars.Zip(bytes).ToFrozenDictionary(p => p.First, p => p.Second);
            var decode = new char[256];
            foreach (var (c, b) in chars.Zip(bytes))
            {
                decode[b] = c;
            }
            _decode = new string(decode);
        }

        public string Name { get; }

        /// <summary>text.encode(Name) as characters U+0000–U+00FF, when every character is encodable.</summary>
        public bool TryEncode(string text, out string bytes)
        {
            var output = new char[text.Length];
            for (var i = 0; i < text.Length; i++)
            {
                if (!_encode.TryGetValue(text[i], out output[i]))
                {
                    bytes = "";
                    return false;
                }
            }
            bytes = new string(output);
            return true;
        }

        public string Decode(string bytes) => string.Create(bytes.Length, bytes, (span, b) =>
        {
            for (var i = 0; i < b.Length; i++)
            {
                span[i] = _decode[b[i]];
            }
        });
    }
}
