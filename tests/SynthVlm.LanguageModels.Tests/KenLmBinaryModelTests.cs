using System.Text;
using System.Text.Json;

namespace SynthVlm.LanguageModels.Tests;

/// <summary>
/// KenLM binary models against what KenLM's own <c>query</c> prints for them
/// (Fixtures/kenlm/make_reference.py, kpu/kenlm 4cb443e6).
/// </summary>
public class KenLmBinaryModelTests
{
    // KenLM prints float32 values in their shortest round-trip form and sums in float32 as we do, so
    // query's numbers are compared as float32 and must be identical (stricter than 1e-6 below |8|;
    // above it float32 cannot resolve 1e-6). Against the double-printed scores of lm_expected.json: 1e-6.
    private const double Tolerance = 1e-6;

    private static string Kenlm(string name) => Fixtures.PathOf(Path.Combine("kenlm", name));

    public static TheoryData<string, bool> Cases()
    {
        var data = new TheoryData<string, bool>();
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Kenlm("expected.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("model").GetString()!, c.GetProperty("sentence_context").GetBoolean());
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Scores_every_sentence_as_kenlm_query(string model, bool sentenceContext)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Kenlm("expected.json")));
        var @case = doc.RootElement.GetProperty("cases").EnumerateArray()
            .Single(c => c.GetProperty("model").GetString() == model && c.GetProperty("sentence_context").GetBoolean() == sentenceContext);
        using var lm = KenLmBinaryModel.Load(Kenlm(model));
        var mismatches = new List<string>();
        var sentences = @case.GetProperty("sentences").EnumerateArray().ToArray();
        sentences.Length.Should().BeGreaterThan(10);
        foreach (var row in sentences)
        {
            var sentence = row.GetProperty("sentence").GetString()!;
            var total = row.GetProperty("total").GetDouble();
            var score = lm.Score(sentence, sentenceContext, sentenceContext);
            if ((float)score != (float)total)
            {
                mismatches.Add($"{JsonSerializer.Serialize(sentence)}: total {total}, got {score}");
            }
            var words = lm.ScoreWords(sentence, sentenceContext, sentenceContext);
            var oov = words.Count(w => w.Id == 0);
            if (oov != row.GetProperty("oov").GetInt32())
            {
                mismatches.Add($"{JsonSerializer.Serialize(sentence)}: OOV {row.GetProperty("oov").GetInt32()}, got {oov}");
            }
            if (row.TryGetProperty("words", out var expectedWords))
            {
                var expected = expectedWords.EnumerateArray()
                    .Select(w => (Id: w[1].GetInt32(), NgramLength: w[2].GetInt32(), Prob: w[3].GetDouble())).ToArray();
                var got = words.Select(w => (w.Id, w.NgramLength, Prob: (double)w.Prob)).ToArray();
                var same = expected.Length == got.Length
                    && expected.Zip(got).All(p => p.First.Id == p.Second.Id && p.First.NgramLength == p.Second.NgramLength && (float)p.First.Prob == (float)p.Second.Prob);
                if (!same)
                {
                    mismatches.Add($"{JsonSerializer.Serialize(sentence)}: words {string.Join(' ', expected)}, got {string.Join(' ', got)}");
                }
            }
        }
        mismatches.Should().BeEmpty();
    }

    [Theory]
    [InlineData("trigram.probing.bin")]
    [InlineData("trigram.trie.bin")]
    public void Agrees_with_the_arpa_scorer_for_every_bos_eos_combination(string model)
    {
        // lm_expected.json's scores come from the independent back-off scorer of make_fixtures.py on
        // trigram.arpa (no pruned n-grams, so KenLM's filling-in does not apply).
        using var lm = KenLmBinaryModel.Load(Kenlm(model));
        using var expected = Fixtures.Json("lm_expected.json");
        var rows = expected.RootElement.GetProperty("scores").EnumerateArray().ToArray();
        rows.Length.Should().BeGreaterThan(100);
        rows.Select(r => (r.GetProperty("bos").GetBoolean(), r.GetProperty("eos").GetBoolean())).Distinct().Should().HaveCount(4);
        var mismatches = rows
            .Where(r => Math.Abs(lm.Score(r.GetProperty("sentence").GetString()!, r.GetProperty("bos").GetBoolean(), r.GetProperty("eos").GetBoolean()) - r.GetProperty("score").GetDouble()) > Tolerance)
            .Select(r => r.GetProperty("sentence").GetString())
            .ToList();
        mismatches.Should().BeEmpty();
    }

    [Theory]
    [InlineData("trigram.probing.bin")]
    [InlineData("trigram.trie.bin")]
    public void Perplexity_scorer_accepts_the_binary_and_equals_data_juicer(string model)
    {
        using var lm = KenLmBinaryModel.Load(Kenlm(model));
        var scorer = new PerplexityScorer(Fixtures.Sp("sp_nfkc"), lm);
        using var expected = Fixtures.Json("lm_expected.json");
        var rows = expected.RootElement.GetProperty("perplexities").GetProperty("sp_nfkc").EnumerateArray().ToArray();
        rows.Length.Should().BeGreaterThanOrEqualTo(200);
        var mismatches = rows
            .Where(r => scorer.Perplexity(r.GetProperty("text").GetString()!) != r.GetProperty("perplexity").GetDouble())
            .Select(r => r.GetProperty("text").GetString())
            .ToList();
        mismatches.Should().BeEmpty();
    }

    [Fact]
    public void Reads_the_header_of_a_probing_and_a_trie_file()
    {
        using var probing = KenLmBinaryModel.Load(Kenlm("fourgram.probing.bin"));
        probing.Header.DataStructure.Should().Be(KenLmDataStructure.Probing);
        probing.Header.ProbingMultiplier.Should().Be(1.5f);
        probing.Header.HasVocabulary.Should().BeTrue();
        probing.Order.Should().Be(4);
        probing.Counts.Should().Equal(7L, 8L, 5L, 3L);
        probing.VocabularySize.Should().Be(8); // seven words and <unk>, which the ARPA lacks
        probing.Contains("e").Should().BeTrue();
        probing.Contains("<unk>").Should().BeTrue();
        probing.Contains("zebra").Should().BeFalse();

        using var trie = KenLmBinaryModel.Load(Kenlm("fourgram.trie.bin"));
        trie.Header.DataStructure.Should().Be(KenLmDataStructure.Trie);
        trie.Order.Should().Be(4);
        trie.VocabularySize.Should().Be(8);
        trie.Contains("</s>").Should().BeTrue();
        trie.Contains("zebra").Should().BeFalse();
    }

    [Theory]
    [InlineData("fourgram.qtrie.bin", "-q")]
    [InlineData("fourgram.atrie.bin", "-a")]
    public void Refuses_quantized_and_array_compressed_tries_naming_the_option(string model, string option)
    {
        var path = Kenlm(model);
        var act = () => KenLmBinaryModel.Load(path);
        act.Should().Throw<LanguageModelFormatException>()
            .Where(e => e.FilePath == path && e.Message.Contains($"build_binary {option}", StringComparison.Ordinal) && e.Message.Contains("Rebuild", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(20, "not a KenLM binary")] // inside the magic text
    [InlineData(70, "truncated")]          // inside the sanity block
    [InlineData(100, "truncated")]         // inside the fixed parameters
    [InlineData(130, "truncated")]         // inside the counts
    [InlineData(200, "truncated")]         // inside the vocabulary table
    [InlineData(-10, "truncated")]         // inside the vocabulary words
    public void Truncated_files_are_refused_with_the_file_named(int keep, string expected)
    {
        foreach (var model in new[] { "fourgram.probing.bin", "fourgram.trie.bin" })
        {
            var bytes = File.ReadAllBytes(Kenlm(model));
            var path = Fixtures.TempFile(bytes[..(keep > 0 ? keep : bytes.Length + keep)]);
            try
            {
                var act = () => KenLmBinaryModel.Load(path);
                act.Should().Throw<LanguageModelFormatException>()
                    .Where(e => e.FilePath == path && e.Message.StartsWith(path, StringComparison.Ordinal) && e.Message.Contains(expected, StringComparison.Ordinal), model);
            }
            finally
            {
                File.Delete(path);
            }
        }
    }

    [Fact]
    public void A_big_endian_build_is_refused()
    {
        var bytes = File.ReadAllBytes(Kenlm("fourgram.probing.bin"));
        // Byte-swap the sanity block's three floats and three uint32 and the uint64.
        for (var at = 56; at < 80; at += 4)
        {
            Array.Reverse(bytes, at, 4);
        }
        Array.Reverse(bytes, 80, 8);
        AssertRefused(bytes, "big-endian");
    }

    [Fact]
    public void Another_sanity_layout_is_refused()
    {
        var bytes = File.ReadAllBytes(Kenlm("fourgram.probing.bin"));
        bytes[60] ^= 0x01; // the 1.0f test value
        AssertRefused(bytes, "different compiler or architecture");
    }

    [Theory]
    [InlineData("4", "version 4 is not supported")]
    [InlineData("6", "version 6 is not supported")]
    public void Another_format_version_is_refused(string version, string expected)
    {
        var bytes = File.ReadAllBytes(Kenlm("fourgram.probing.bin"));
        bytes[49] = (byte)version[0]; // "...format version 5\n"
        AssertRefused(bytes, expected);
    }

    [Fact]
    public void An_unfinished_build_is_refused()
    {
        var bytes = File.ReadAllBytes(Kenlm("fourgram.probing.bin"));
        Encoding.ASCII.GetBytes("mmap lm http://kheafield.com/code incomplete\n").CopyTo(bytes, 0);
        AssertRefused(bytes, "did not finish building");
    }

    [Fact]
    public void An_unknown_data_structure_is_refused()
    {
        var bytes = File.ReadAllBytes(Kenlm("fourgram.probing.bin"));
        bytes[96] = 9; // FixedWidthParameters.model_type
        AssertRefused(bytes, "data structure 9");
    }

    [Fact]
    public void Loader_decides_by_content_not_by_extension()
    {
        var binary = Fixtures.TempFile(File.ReadAllBytes(Kenlm("fourgram.probing.bin")));
        var arpa = Fixtures.TempFile(File.ReadAllBytes(Kenlm("fourgram.arpa")));
        try
        {
            var fromBinary = NgramModelLoader.Load(binary);
            fromBinary.Should().BeOfType<KenLmBinaryModel>();
            ((IDisposable)fromBinary).Dispose();
            NgramModelLoader.Load(arpa).Should().BeOfType<ArpaModel>();
            var act = () => NgramModelLoader.Load(binary + ".missing");
            act.Should().Throw<FileNotFoundException>();
        }
        finally
        {
            File.Delete(binary);
            File.Delete(arpa);
        }
    }

    [Fact]
    public void Binary_and_arpa_agree_on_the_trigram_through_the_loader()
    {
        var arpa = NgramModelLoader.Load(Fixtures.PathOf("trigram.arpa"));
        var binary = NgramModelLoader.Load(Kenlm("trigram.probing.bin"));
        try
        {
            foreach (var text in new[] { "▁a ▁dog", "", "▁the ▁river ▁zzz", "x y z" })
            {
                binary.Score(text).Should().BeApproximately(arpa.Score(text), Tolerance, text);
                binary.Score(text, bos: false, eos: false).Should().BeApproximately(arpa.Score(text, bos: false, eos: false), Tolerance, text);
            }
        }
        finally
        {
            ((IDisposable)binary).Dispose();
        }
    }

    [Fact]
    public void Murmur_hash_equals_the_hashes_kenlm_stored_in_the_sorted_trie_vocabulary()
    {
        // The trie's vocabulary (after the 144-byte header of a 4-gram) is a count and the sorted
        // MurmurHash64A values of every word but <unk>, written by build_binary.
        var bytes = File.ReadAllBytes(Kenlm("fourgram.trie.bin"));
        var count = (int)BitConverter.ToInt64(bytes, 144);
        var stored = Enumerable.Range(0, count).Select(i => BitConverter.ToUInt64(bytes, 152 + (8 * i))).ToArray();
        var ours = new[] { "<s>", "</s>", "a", "b", "c", "d", "e" }
            .Select(w => KenLmBinaryModel.MurmurHash64A(Encoding.UTF8.GetBytes(w))).Order().ToArray();
        stored.Should().Equal(ours);
    }

    private static void AssertRefused(byte[] bytes, string expected)
    {
        var path = Fixtures.TempFile(bytes);
        try
        {
            var act = () => KenLmBinaryModel.Load(path);
            act.Should().Throw<LanguageModelFormatException>()
                .Where(e => e.FilePath == path && e.Message.Contains(expected, StringComparison.Ordinal));
            var viaLoader = () => NgramModelLoader.Load(path);
            viaLoader.Should().Throw<LanguageModelFormatException>();
        }
        finally
        {
            File.Delete(path);
        }
    }
}

public class ArpaModelKenLmParityTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Arpa_model_scores_the_pruned_fourgram_as_kenlm_query(bool sentenceContext)
    {
        // make_reference.py checked that query prints the same on fourgram.arpa as on its binaries.
        var lm = ArpaModel.Load(Fixtures.PathOf(Path.Combine("kenlm", "fourgram.arpa")));
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Fixtures.PathOf(Path.Combine("kenlm", "expected.json"))));
        var @case = doc.RootElement.GetProperty("cases").EnumerateArray()
            .Single(c => c.GetProperty("model").GetString() == "fourgram.probing.bin" && c.GetProperty("sentence_context").GetBoolean() == sentenceContext);
        var mismatches = @case.GetProperty("sentences").EnumerateArray()
            .Select(r => (Sentence: r.GetProperty("sentence").GetString()!, Total: r.GetProperty("total").GetDouble()))
            .Where(r => (float)lm.Score(r.Sentence, sentenceContext, sentenceContext) != (float)r.Total)
            .Select(r => $"{r.Sentence}: {r.Total} vs {lm.Score(r.Sentence, sentenceContext, sentenceContext)}")
            .ToList();
        mismatches.Should().BeEmpty();
    }
}
