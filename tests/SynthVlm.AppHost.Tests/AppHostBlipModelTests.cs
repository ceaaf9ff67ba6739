using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using FluentAssertions;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.AppHost.Tests;

/// <summary>
/// `--blip-model DIR` gives the curation service its BLIP ITM folder (and nothing else), `run --itm-min P` turns
/// image–text matching on for the run with that minimum; a folder without itm.onnx and a P outside [0, 1] are refused.
/// </summary>
public sealed class AppHostBlipModelTests : IDisposable
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("synthvlm-apphost-blip-").FullName;

    [Fact]
    public async Task Blip_model_reaches_the_curation_service_and_itm_min_reaches_the_run_config()
    {
        var blip = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Blip.Tests", "Fixtures", "tiny-blip");
        var builder = await DistributedApplicationTestingBuilder.CreateAsync(typeof(AppHostSettings),
            ["--data-dir", _dataDir, "--dashboard-port", "0", "--otlp-port", "0", "--redis-mode", "executable", "--blip-model", blip], TestTimeout.Token(TimeSpan.FromMinutes(2)));
        var projects = builder.Resources.OfType<ProjectResource>().ToDictionary(p => p.Name);
#pragma warning disable CS0618 // As AppModelTests: evaluates the environment callbacks alone.
        var curation = await projects["curation"].GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Publish);
        var diffusion = await projects["diffusion"].GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Publish);
#pragma warning restore CS0618
        curation[SynthVlmAppModel.CurationBlipModelEnv].Should().Be(Path.GetFullPath(blip));
        diffusion.Should().NotContainKey(SynthVlmAppModel.CurationBlipModelEnv);

        var pool = Path.Combine(_dataDir, "pool.json");
        await File.WriteAllTextAsync(pool, "[]");
        var run = AppHostSettings.Parse(["run", "--captions", pool, "--blip-model", blip, "--itm-min", "0.75"]);
        run.Should().NotBeNull();
        run!.BlipModel.Should().Be(Path.GetFullPath(blip));
        run.ClusterOptionsGiven.Should().Contain("--blip-model");
        run.Run!.Curation.ImageTextMatching.Should().NotBeNull();
        (run.Run.Curation.ImageTextMatching.HasMinScore, run.Run.Curation.ImageTextMatching.MinScore).Should().Be((true, 0.75));
        AppHostSettings.Parse(["run", "--captions", pool])!.Run!.Curation.ImageTextMatching.Should().BeNull("matching is off unless asked for");

        AppHostSettings.Parse(["run", "--captions", pool, "--itm-min", "1.5"]).Should().BeNull();
        AppHostSettings.Parse(["run", "--captions", pool, "--blip-model", _dataDir]).Should().BeNull("a folder without itm.onnx is not a BLIP ITM model");
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
    }
}
