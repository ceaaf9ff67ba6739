using System.Reflection;
using System.Text.Json;
using FluentAssertions;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Cli.Tests;

/// <summary>`synthvlm curate` with Data-Juicer's cleaning mappers switched on from --config, and the ids of rejected records.</summary>
public sealed class CurateCleaningTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cli-clean-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Task<ChildProcessResult> SynthVlmAsync(params string[] args)
    {
        var configuration = typeof(CurateCleaningTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var dll = Path.Combine(RepoPaths.Root, "Cli", "bin", configuration, "net10.0", "synthvlm.dll");
        return ChildProcess.RunAsync("dotnet", new[] { dll }.Concat(args), TimeSpan.FromSeconds(120));
    }

    private static string Line(string id, string caption) => JsonSerializer.Serialize(new Dictionary<string, string> { ["id"] = id, ["caption"] = caption });

    private static List<JsonElement> ReadJsonl(string path) =>
        [.. File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement.Clone())];

    [Fact]
    public async Task Cleaning_from_config_writes_cleaned_captions_their_before_and_after_and_counts_per_mapper()
    {
        var pool = Path.Combine(_dir, "pool.jsonl");
        await File.WriteAllLinesAsync(pool,
        [
            Line("amp", "A brown dog &amp; a grey cat sleep on a red sofa."),
            Line("link", "A small boat on a calm lake at dawn https://example.com/photo/123"),
            Line("plain", "Two children fly a yellow kite over a grassy hill."),
            Line("dup", "A brown dog & a grey cat sleep on a red sofa."),
            Line("c0120", ""),
        ]);
        var config = Path.Combine(_dir, "curation.json");
        await File.WriteAllTextAsync(config, """{"Cleaning": "data_juicer_recipe"}""");
        var outDir = Path.Combine(_dir, "out");
        var result = await SynthVlmAsync("curate", "--in", pool, "--out", outDir, "--config", config);
        result.ExitCode.Should().Be(0, result.StandardError);

        var kept = ReadJsonl(Path.Combine(outDir, "kept.jsonl")).ToDictionary(k => k.GetProperty("id").GetString()!);
        kept.Keys.Should().BeEquivalentTo(["amp", "link", "plain"]);
        kept["amp"].GetProperty("caption").GetString().Should().Be("A brown dog & a grey cat sleep on a red sofa.");
        kept["amp"].GetProperty("original_caption").GetString().Should().Be("A brown dog &amp; a grey cat sleep on a red sofa.");
        kept["link"].GetProperty("caption").GetString().Should().Be("A small boat on a calm lake at dawn");
        kept["plain"].TryGetProperty("original_caption", out _).Should().BeFalse();

        // The cleaned "amp" and the literal "dup" are the same caption now.
        var rejected = ReadJsonl(Path.Combine(outDir, "rejected.jsonl"));
        rejected.Select(r => (r.GetProperty("id").GetString(), r.GetProperty("filter").GetString()))
            .Should().Equal(("dup", "exact_duplicate"), ("c0120", "input"));

        var stats = ReadJsonl(Path.Combine(outDir, "stats.jsonl")).ToDictionary(s => s.GetProperty("id").GetString()!);
        var steps = stats["link"].GetProperty("cleaning").EnumerateArray().ToList();
        steps.Select(s => s.GetProperty("mapper").GetString()).Should().Equal("clean_links_mapper", "whitespace_normalization_mapper");
        steps[0].GetProperty("before").GetString().Should().Be("A small boat on a calm lake at dawn https://example.com/photo/123");
        steps[0].GetProperty("after").GetString().Should().Be("A small boat on a calm lake at dawn ");
        steps[1].GetProperty("after").GetString().Should().Be("A small boat on a calm lake at dawn");
        stats["plain"].TryGetProperty("cleaning", out _).Should().BeFalse();

        using var summary = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(outDir, "summary.json")));
        var counts = summary.RootElement.GetProperty("cleaned_by_mapper").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64());
        counts.Should().Equal(new Dictionary<string, long>
        {
            ["clean_email_mapper"] = 0,
            ["clean_links_mapper"] = 1,
            ["fix_unicode_mapper"] = 1,
            ["punctuation_normalization_mapper"] = 0,
            ["whitespace_normalization_mapper"] = 1,
        });
        summary.RootElement.GetProperty("settings").GetProperty("Cleaning").GetProperty("FixUnicode").GetBoolean().Should().BeTrue();
    }

    [Fact]
    public async Task Without_cleaning_captions_are_written_as_given_and_the_summary_lists_no_mapper()
    {
        var pool = Path.Combine(_dir, "pool.jsonl");
        await File.WriteAllLinesAsync(pool, [Line("amp", "A brown dog &amp; a grey cat sleep on a red sofa.")]);
        var outDir = Path.Combine(_dir, "out");
        var result = await SynthVlmAsync("curate", "--in", pool, "--out", outDir);
        result.ExitCode.Should().Be(0, result.StandardError);
        ReadJsonl(Path.Combine(outDir, "kept.jsonl")).Single().GetProperty("caption").GetString().Should().Be("A brown dog &amp; a grey cat sleep on a red sofa.");
        using var summary = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(outDir, "summary.json")));
        summary.RootElement.GetProperty("cleaned_by_mapper").EnumerateObject().Should().BeEmpty();
    }

    [Fact]
    public async Task A_bad_cleaning_value_is_a_usage_error_naming_the_key()
    {
        var pool = Path.Combine(_dir, "pool.jsonl");
        await File.WriteAllLinesAsync(pool, [Line("a", "A dog.")]);
        var config = Path.Combine(_dir, "curation.json");
        await File.WriteAllTextAsync(config, """{"Cleaning": {"FixUnicode": true, "Stemming": true}}""");
        var result = await SynthVlmAsync("curate", "--in", pool, "--out", Path.Combine(_dir, "out"), "--config", config);
        result.ExitCode.Should().NotBe(0);
        result.StandardError.Should().Contain("'Cleaning'").And.Contain("FixUnicode");
    }
}
