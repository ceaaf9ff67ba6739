using SynthVlm.Protos.V1;
using SynthVlm.Testing;

namespace SynthVlm.Runs.Tests;

/// <summary>Runs that start from images (RunConfig.recaption): validation, and the store's hand-off from the recaptioned pool to ingestion.</summary>
public sealed class RecaptionRunTests(RedisFixture redis) : IClassFixture<RedisFixture>, IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("runs-recaption-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string Images => Directory.CreateDirectory(Path.Combine(_dir.FullName, "images")).FullName;

    private RunConfig Normalize(RunConfig c) => RunConfigs.Normalize(c, _dir.FullName, DateTimeOffset.UnixEpoch);

    [Fact]
    public void A_run_with_images_and_no_captions_is_accepted_with_absolute_paths_and_a_jsonl_pool_format()
    {
        var c = Normalize(new RunConfig { Id = "imgs", Recaption = new RunRecaption { Images = Images, Captioner = new CaptionerSettings { ModelDir = "models/llava" } } });

        c.Captions.Should().BeEmpty();
        c.CaptionsFormat.Should().Be("jsonl");
        c.Recaption.SourceKind.Should().Be("auto");
        c.Recaption.Captioner.ModelDir.Should().Be(Path.GetFullPath("models/llava"));
        Normalize(c).Should().Be(c, "normalising is idempotent, so a resubmission compares equal");
        RunStore.WaitsForRecaption(c).Should().BeTrue();
    }

    [Theory]
    [InlineData("recaption.images", "")]
    [InlineData("recaption.images", "/no/such/images")]
    [InlineData("recaption.source_kind", "zip")]
    [InlineData("captions", "both")]
    [InlineData("recaption.captioner", "both")]
    [InlineData("recaption.captioner.endpoint", "ftp://x")]
    [InlineData("recaption.captioner.endpoint_model", "")]
    public void A_bad_recaption_field_is_refused_with_its_name(string field, string value)
    {
        var recaption = new RunRecaption { Images = Images, Captioner = new CaptionerSettings() };
        var c = new RunConfig { Recaption = recaption };
        switch (field)
        {
            case "recaption.images": recaption.Images = value; break;
            case "recaption.source_kind": recaption.SourceKind = value; break;
            case "captions":
                c.Captions = Path.Combine(_dir.FullName, "pool.json");
                File.WriteAllText(c.Captions, "[]");
                break;
            case "recaption.captioner": recaption.Captioner = new CaptionerSettings { ModelDir = "m", Endpoint = "http://x/v1", EndpointModel = "m" }; break;
            case "recaption.captioner.endpoint": recaption.Captioner.Endpoint = value; recaption.Captioner.EndpointModel = "m"; break;
            case "recaption.captioner.endpoint_model": recaption.Captioner.Endpoint = "http://127.0.0.1:8000/v1"; break;
        }
        var act = () => Normalize(c);
        act.Should().Throw<RunConfigException>().Which.Field.Should().Be(field);
    }

    [Fact]
    public async Task A_run_from_images_waits_for_its_pool_then_is_put_on_the_ingestion_list()
    {
        var store = new RunStore(redis.Connection);
        var config = Normalize(new RunConfig { Id = "img-" + Guid.NewGuid().ToString("N")[..8], Recaption = new RunRecaption { Images = Images } });

        var (run, created) = await store.SubmitAsync(config).WithTimeout();
        created.Should().BeTrue();
        run.State.Should().Be(RunState.Pending);
        (await store.GetActiveAsync()).Should().Contain(config.Id);
        (await store.GetIngestPendingAsync()).Should().NotContain(config.Id, "there is no pool to ingest before RecaptionService writes it");
        (await store.GetPoolAsync(config.Id, config)).Should().BeNull();

        var pool = Path.Combine(_dir.FullName, "blobs", "runs", config.Id, "recaption", "pool.jsonl");
        await store.SetRecaptionedPoolAsync(config.Id, pool).WithTimeout();
        await store.SetRecaptionedPoolAsync(config.Id, pool).WithTimeout();

        (await store.GetIngestPendingAsync()).Should().ContainSingle(id => id == config.Id);
        (await store.GetPoolAsync(config.Id, config)).Should().Be(pool);
        (await store.GetConfigAsync(config.Id))!.Should().Be(config, "the config stays as submitted, so a resubmission compares equal");

        var file = Path.Combine(_dir.FullName, "captions.jsonl");
        await File.WriteAllTextAsync(file, "{\"id\":\"a\",\"caption\":\"a dog\"}\n");
        var captioned = Normalize(new RunConfig { Id = "cap-" + Guid.NewGuid().ToString("N")[..8], Captions = file });
        await store.SubmitAsync(captioned).WithTimeout();
        (await store.GetIngestPendingAsync()).Should().Contain(captioned.Id, "a run with captions is ingested at once, as before");
        (await store.GetPoolAsync(captioned.Id, captioned)).Should().Be(captioned.Captions);
    }

    [Fact]
    public async Task A_finished_run_is_not_put_back_on_the_ingestion_list_by_a_late_pool()
    {
        var store = new RunStore(redis.Connection);
        var config = Normalize(new RunConfig { Id = "late-" + Guid.NewGuid().ToString("N")[..8], Recaption = new RunRecaption { Images = Images } });
        await store.SubmitAsync(config).WithTimeout();
        await store.CancelAsync(config.Id, "cancelled").WithTimeout();

        await store.SetRecaptionedPoolAsync(config.Id, "/data/pool.jsonl").WithTimeout();

        (await store.GetIngestPendingAsync()).Should().NotContain(config.Id);
    }
}
