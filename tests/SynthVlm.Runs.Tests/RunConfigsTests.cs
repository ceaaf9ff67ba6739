using SynthVlm.Protos.V1;

namespace SynthVlm.Runs.Tests;

public sealed class RunConfigsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("runcfg-");
    private readonly string _pool;

    public RunConfigsTests()
    {
        _pool = Path.Combine(_dir.FullName, "pool.json");
        File.WriteAllText(_pool, "[]");
    }

    public void Dispose() => _dir.Delete(recursive: true);

    private RunConfig Normalize(RunConfig c) => RunConfigs.Normalize(c, _dir.FullName, new DateTimeOffset(2026, 11, 22, 7, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Defaults_are_filled_in_and_paths_made_absolute()
    {
        var c = Normalize(new RunConfig { Captions = _pool });
        c.Id.Should().StartWith("run-20261122-070000-");
        c.Variants.Should().Be(2);
        c.Lambda.Should().Be(0.5);
        c.Output.Should().Be(Path.Combine(_dir.FullName, "datasets", c.Id));
        c.Dataset.ImageFormat.Should().Be("png");
        c.Dataset.Quality.Should().Be(95);
        c.CaptionsFormat.Should().Be("auto");
        Normalize(c).Should().Be(c, "normalising is idempotent, so a resubmission compares equal");
    }

    [Fact]
    public void Image_text_matching_is_off_unless_set_and_an_empty_setting_takes_the_papers_bounds()
    {
        Normalize(new RunConfig { Captions = _pool }).Curation.ImageTextMatching.Should().BeNull();
        var on = Normalize(new RunConfig { Captions = _pool, Curation = new CurationSettings { ImageTextMatching = new BlipMatchingSettings() } }).Curation.ImageTextMatching;
        (on.MinScore, on.MaxScore, on.HorizontalFlip, on.VerticalFlip).Should().Be((0.8, 1.0, false, false));
        var bounds = new (double Min, double Max, string Field)[] { (double.NaN, 1.0, "min_score"), (-0.1, 1.0, "min_score"), (0.5, 1.2, "max_score"), (0.6, 0.4, "max_score") };
        foreach (var (min, max, field) in bounds)
        {
            var bad = () => Normalize(new RunConfig { Captions = _pool, Curation = new CurationSettings { ImageTextMatching = new BlipMatchingSettings { MinScore = min, MaxScore = max } } });
            bad.Should().Throw<RunConfigException>().WithMessage($"curation.image_text_matching.{field}*");
        }
    }

    [Theory]
    [InlineData("id", "../../x")]
    [InlineData("id", "a/b")]
    [InlineData("id", ".hidden")]
    [InlineData("variants", "65")]
    [InlineData("lambda", "-1")]
    [InlineData("top_k", "-3")]
    [InlineData("top_fraction", "1.5")]
    [InlineData("dataset.quality", "101")]
    [InlineData("dataset.image_format", "gif")]
    [InlineData("generation.steps", "-2")]
    [InlineData("generation.refiner_mode", "ensemble")]
    [InlineData("generation.refiner_strength", "0")]
    [InlineData("captions", "/no/such/file.json")]
    [InlineData("captions_format", "xml")]
    public void An_out_of_range_field_is_refused_with_its_name(string field, string value)
    {
        var c = new RunConfig { Captions = _pool };
        switch (field)
        {
            case "id": c.Id = value; break;
            case "variants": c.Variants = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "lambda": c.Lambda = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "top_k": c.TopK = long.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "top_fraction": c.TopFraction = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "dataset.quality": c.Dataset = new DatasetSettings { Quality = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) }; break;
            case "dataset.image_format": c.Dataset = new DatasetSettings { ImageFormat = value }; break;
            case "generation.steps": c.Generation = new GenerationSpec { Steps = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) }; break;
            case "generation.refiner_mode": c.Generation = new GenerationSpec { RefinerMode = value }; break;
            case "generation.refiner_strength": c.Generation = new GenerationSpec { RefinerStrength = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture) }; break;
            case "captions": c.Captions = value; break;
            case "captions_format": c.CaptionsFormat = value; break;
        }
        var act = () => Normalize(c);
        act.Should().Throw<RunConfigException>().Which.Field.Should().Be(field);
    }

    [Theory]
    [InlineData(0L, 0.0, 100L, 100L)]
    [InlineData(50L, 0.0, 200L, 50L)]
    [InlineData(500L, 0.0, 200L, 200L)]
    [InlineData(0L, 0.1, 1000L, 100L)]
    [InlineData(0L, 0.1, 5L, 1L)]
    [InlineData(0L, 0.1, 0L, 0L)]
    public void The_selection_size_is_k_or_a_floor_fraction_at_least_one(long k, double fraction, long captions, long expected)
    {
        var c = new RunConfig();
        if (k > 0)
        {
            c.TopK = k;
        }
        if (fraction > 0)
        {
            c.TopFraction = fraction;
        }
        RunConfigs.SelectionSize(c, captions).Should().Be(expected);
    }
}
