using System.Text.Json;
using SynthVlm.Curation.Cleaning;
using SynthVlm.Testing;

namespace SynthVlm.Curation.Tests.Cleaning;

/// <summary>
/// Data-Juicer's mappers, run by Data-Juicer's own code (Fixtures/cleaning/make_reference.py), on
/// the committed inputs: every C# mapper's output equals Data-Juicer's exactly, alone and chained.
/// </summary>
public class CleaningParityTests
{
    private static readonly string Folder = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Curation.Tests", "Fixtures", "cleaning");

    private static readonly Lazy<(IReadOnlyList<(string Id, string Text)> Inputs, JsonElement Expected)> Fixture = new(() =>
    {
        using var inputs = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "inputs.json")));
        var list = inputs.RootElement.EnumerateArray().Select(e => (e.GetProperty("id").GetString()!, e.GetProperty("text").GetString()!)).ToList();
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "expected.json")));
        return (list, expected.RootElement.Clone());
    });

    public static TheoryData<string> MapperNames() => [.. CaptionCleaner.AllMapperNames];

    [Theory]
    [MemberData(nameof(MapperNames))]
    public void Each_mapper_equals_data_juicer_on_every_input(string name)
    {
        var (inputs, expected) = Fixture.Value;
        var mapper = new CaptionCleaner(new CaptionCleaningSettings
        {
            CleanHtml = true,
            CleanEmail = true,
            CleanLinks = true,
            FixUnicode = true,
            NormalizePunctuation = true,
            NormalizeWhitespace = true,
        }).Mappers.Single(m => m.Name == name);
        var table = expected.GetProperty("mappers").GetProperty(name);
        var mismatches = new List<string>();
        foreach (var (id, text) in inputs)
        {
            var want = table.GetProperty(id).GetString()!;
            var got = mapper.Apply(text);
            if (!string.Equals(got, want, StringComparison.Ordinal))
            {
                mismatches.Add($"{id}: expected {JsonSerializer.Serialize(want)}, got {JsonSerializer.Serialize(got)}");
            }
        }
        inputs.Should().HaveCountGreaterThan(40);
        mismatches.Should().BeEmpty();
    }

    [Theory]
    [InlineData("data_juicer_recipe")]
    [InlineData("all")]
    public void Chains_in_recipe_order_equal_data_juicer(string chain)
    {
        var (inputs, expected) = Fixture.Value;
        var settings = chain == "all" ? CaptionCleaningSettings.DataJuicerRecipe with { CleanHtml = true } : CaptionCleaningSettings.DataJuicerRecipe;
        var cleaner = new CaptionCleaner(settings);
        var table = expected.GetProperty("chains").GetProperty(chain);
        foreach (var (id, text) in inputs)
        {
            cleaner.Clean(text).Text.Should().Be(table.GetProperty(id).GetString(), $"input '{id}'");
        }
    }
}
