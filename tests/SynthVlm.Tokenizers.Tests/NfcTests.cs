using System.Text;
using System.Text.Json;
using SynthVlm.Testing;
using SynthVlm.Tokenizers.Unicode;

namespace SynthVlm.Tokenizers.Tests;

/// <summary>The built-in NFC against Python's unicodedata.normalize("NFC", ...) on the same strings.</summary>
public sealed class NfcTests
{
    // Starters, marks and Hangul pieces whose combinations exercise decomposition, reordering,
    // blocking, singletons, exclusions and algorithmic Hangul composition.
    private static readonly int[] Pool =
    [
        'a', 'e', 'o', 'u', 'A', 'E', 'O', 'U', 'i', 'n', 'c', 's', ' ', '.',
        0x00C5, 0x00E9, 0x00F6, 0x0130, 0x1E9B, 0x212B, 0x2126, 0x212A, 0x0344, 0x0958, 0x0915, 0x093C,
        0x0300, 0x0301, 0x0302, 0x0303, 0x0308, 0x030A, 0x0316, 0x0323, 0x0327, 0x0328, 0x0345, 0x0313, 0x0314, 0x034F,
        0x03B1, 0x03C9, 0x0391, 0x1F00, 0x0B47, 0x0B3E, 0x0B57, 0x0CC6, 0x0CC2, 0x0CD5,
        0x1100, 0x1112, 0x1161, 0x1175, 0x11A8, 0x11C2, 0xAC00, 0xD4DB, 0xD7A3, 0x3099, 0x304B, 0x30CF,
        0x1D15E, 0x1D165, 0x1D16E, 0x05D0, 0x05B7, 0x05BC, 0x0F71, 0x0F72, 0x0F80, 0x1109A,
    ];

    [Fact]
    public async Task Matches_python_unicodedata_on_random_mixtures()
    {
        var random = new Random(1234);
        var inputs = new List<string>();
        var sb = new StringBuilder();
        for (var i = 0; i < 3000; i++)
        {
            sb.Clear();
            var length = random.Next(1, 9);
            for (var k = 0; k < length; k++)
            {
                sb.Append(char.ConvertFromUtf32(Pool[random.Next(Pool.Length)]));
            }
            inputs.Add(sb.ToString());
        }
        inputs.Add("");
        inputs.Add("plain ascii only");

        using var temp = new Fixtures.TempFolder();
        var input = Path.Combine(temp.Path, "in.json");
        var script = Path.Combine(temp.Path, "nfc.py");
        await File.WriteAllTextAsync(input, JsonSerializer.Serialize(inputs));
        await File.WriteAllTextAsync(script, """
            import json, sys, unicodedata
            data = json.load(open(sys.argv[1], encoding="utf-8"))
            json.dump([unicodedata.normalize("NFC", s) for s in data], sys.stdout, ensure_ascii=True)
            """);
        var run = await ChildProcess.RunPythonAsync(script, [input]);
        run.ExitCode.Should().Be(0, run.StandardError);
        var expected = JsonSerializer.Deserialize<string[]>(run.StandardOutput)!;

        expected.Should().HaveCount(inputs.Count);
        for (var i = 0; i < inputs.Count; i++)
        {
            var actual = Nfc.Normalize(inputs[i]);
            if (actual != expected[i])
            {
                static string Hex(string s) => string.Join(' ', s.EnumerateRunes().Select(r => r.Value.ToString("X4", System.Globalization.CultureInfo.InvariantCulture)));
                Assert.Fail($"NFC({Hex(inputs[i])}) = {Hex(actual)}, Python says {Hex(expected[i])}");
            }
        }
    }

    [Fact]
    public void Known_compositions()
    {
        Nfc.Normalize("e\u0301").Should().Be("é");
        Nfc.Normalize("\u1112\u1161\u11AB").Should().Be("한");
        Nfc.Normalize("\u212B").Should().Be("\u00C5");
        Nfc.Normalize("a\u0316\u0300").Should().Be("\u00E0\u0316");
        Nfc.Normalize("\u0958").Should().Be("\u0915\u093C", "U+0958 is a composition exclusion");
        Nfc.UnicodeVersion.Should().NotBeNullOrEmpty();
    }
}
