using SynthVlm.Curation.NearDuplicates;

namespace SynthVlm.Curation.Tests.NearDuplicates;

public class BandTableTests
{
    [Fact]
    public void Lookups_agree_with_a_dictionary_across_growth_and_clustered_keys()
    {
        var table = new BandTable();
        var oracle = new Dictionary<ulong, int>();
        var random = new Random(5);
        for (var i = 0; i < 50_000; i++)
        {
            // Every third key shares its low 20 bits with others, so probe chains get long; 0 is a real key.
            var key = i == 17 ? 0UL : i % 3 == 0 ? ((ulong)random.NextInt64() << 20) | 0xABCDE : (ulong)random.NextInt64();
            table.TryGetValue(key, out var found).Should().Be(oracle.TryGetValue(key, out var expected));
            if (!oracle.ContainsKey(key))
            {
                table.Add(key, i);
                oracle[key] = i;
            }
            else
            {
                found.Should().Be(expected);
            }
        }
        table.Count.Should().Be(oracle.Count);
        foreach (var (key, value) in oracle)
        {
            table.TryGetValue(key, out var v).Should().BeTrue();
            v.Should().Be(value);
        }
        table.TryGetValue(0x1234_5678_9ABC_DEF1UL, out _).Should().BeFalse();
    }
}
