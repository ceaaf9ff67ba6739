namespace SynthVlm.Judge.Tests;

public sealed class VerdictCacheTests
{
    [Fact]
    public void The_lru_evicts_the_least_recently_used_verdict()
    {
        using var cache = new VerdictCache(2, null);
        var a = VerdictKey.Compute("m", "v", "a");
        var b = VerdictKey.Compute("m", "v", "b");
        var c = VerdictKey.Compute("m", "v", "c");
        cache.Add(a, new CachedVerdict(JudgeOutcome.Yes, "Yes"), "m");
        cache.Add(b, new CachedVerdict(JudgeOutcome.No, "No"), "m");
        cache.TryGet(a, out _).Should().BeTrue(); // a is now the most recent
        cache.Add(c, new CachedVerdict(JudgeOutcome.Yes, "Yes"), "m");

        cache.TryGet(b, out _).Should().BeFalse();
        cache.TryGet(a, out var va).Should().BeTrue();
        va.Should().Be(new CachedVerdict(JudgeOutcome.Yes, "Yes"));
        cache.TryGet(c, out _).Should().BeTrue();
    }

    [Fact]
    public void Keys_separate_their_parts_and_round_trip_through_hex()
    {
        // Without length prefixes these two triples would hash the same concatenation.
        VerdictKey.Compute("ab", "c", "d").Should().NotBe(VerdictKey.Compute("a", "bc", "d"));
        var key = VerdictKey.Compute("m", "v", "caption");
        VerdictKey.TryParseHex(key.ToHex(), out var parsed).Should().BeTrue();
        parsed.Should().Be(key);
        VerdictKey.TryParseHex("zz", out _).Should().BeFalse();
    }

    [Fact]
    public void The_key_is_sha256_of_the_length_prefixed_parts()
    {
        // Independent oracle: the same bytes hashed by the framework's one-shot API.
        var bytes = new List<byte>();
        foreach (var part in new[] { "model", "v1", "A dog." })
        {
            var utf8 = System.Text.Encoding.UTF8.GetBytes(part);
            bytes.AddRange(BitConverter.GetBytes(utf8.Length));
            bytes.AddRange(utf8);
        }
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes.ToArray()));
        VerdictKey.Compute("model", "v1", "A dog.").ToHex().Should().Be(expected);
    }

    [Fact]
    public void A_file_with_long_lines_spanning_read_buffers_loads_every_verdict()
    {
        var file = Path.Combine(Path.GetTempPath(), $"judge-{Guid.NewGuid():N}.jsonl");
        try
        {
            var keys = new List<VerdictKey>();
            using (var cache = new VerdictCache(0, file))
            {
                for (var i = 0; i < 50; i++)
                {
                    var key = VerdictKey.Compute("m", "v", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    keys.Add(key);
                    // Answers of 5 kB push lines across the 64 kB read buffer's edges.
                    cache.Add(key, new CachedVerdict(i % 2 == 0 ? JudgeOutcome.Yes : JudgeOutcome.No, new string('y', 5000) + i), "m");
                }
            }
            using var reloaded = new VerdictCache(0, file);
            reloaded.FileCount.Should().Be(50);
            reloaded.TornBytesDropped.Should().Be(0);
            for (var i = 0; i < 50; i++)
            {
                reloaded.TryGet(keys[i], out var v).Should().BeTrue();
                v.Answer.Should().EndWith(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        finally
        {
            File.Delete(file);
        }
    }
}
