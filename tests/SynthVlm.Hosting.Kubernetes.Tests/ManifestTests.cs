using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using FluentAssertions;
using Microsoft.Extensions.Logging.Abstractions;
using SynthVlm.Streams;
using SynthVlm.Testing;
using Xunit;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using static SynthVlm.Hosting.Kubernetes.Tests.ManifestReading;

namespace SynthVlm.Hosting.Kubernetes.Tests;

/// <summary>
/// The publisher against real Aspire app models built as the AppHost builds them (nothing started):
/// manifests that fit the schema, read alike by YamlDotNet and PyYAML, whose cross-references
/// resolve, and that carry what the model says — replicas, references, user settings — so the
/// local and the published cluster cannot drift apart.
/// </summary>
public sealed partial class ManifestTests : IDisposable
{
    private const string Namespace = "synthvlm-test";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly string _root = Directory.CreateTempSubdirectory("synthvlm-k8s-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static IResourceBuilder<ProjectResource> Project(IDistributedApplicationBuilder builder, string name) =>
        builder.CreateResourceBuilder(builder.Resources.OfType<ProjectResource>().Single(p => p.Name == name));

    private static JsonNode Container(List<JsonObject> all, string deployment) =>
        Kind(all, "Deployment").Single(d => Name(d) == deployment)["spec"]!["template"]!["spec"]!["containers"]![0]!;

    private static Dictionary<string, JsonNode?> EnvOf(List<JsonObject> all, string deployment) =>
        Container(all, deployment)["env"]!.AsArray().ToDictionary(e => e!["name"]!.GetValue<string>(), e => e!["value"] ?? e["valueFrom"]);

    [Fact]
    public async Task Replicas_references_and_settings_set_on_the_app_model_appear_in_the_manifests()
    {
        var localData = Path.Combine(_root, "local-data");
        var builder = AppModels.Pipeline(AppModels.PublishBuilder(), localData, new Dictionary<string, int> { ["diffusion"] = 3, ["scoring"] = 2 });
        Project(builder, "scoring").WithEnvironment("SynthVlm__Scoring__BatchSize", "8");
        // A callback sees the publish-mode execution context, as Aspire's own publishers give it.
        Project(builder, "eval").WithEnvironment(context => context.EnvironmentVariables["SynthVlm__Eval__Where"] = context.ExecutionContext.IsPublishMode ? "cluster" : "local");
        var model = builder.Model();
        var outDir = Path.Combine(_root, "out");

        var written = await KubernetesPublisher.WriteAsync(outDir, model, new KubernetesPublishOptions
        {
            Namespace = Namespace,
            ImageRegistry = "ghcr.io/acme",
            ImageTag = "1.2.3",
            StorageClass = "nfs-client",
            DataSize = "200Gi",
            OtlpEndpoint = new Uri("http://otel-collector.monitoring:4318"),
            ScaleThreshold = 25,
            MaxReplicas = 12,
        }).WithTimeout(Timeout);

        written.Select(Path.GetFileName).Should().Equal("00-namespace.yaml", "01-shared.yaml", "02-redis.yaml",
            "10-curation.yaml", "11-diffusion.yaml", "12-scoring.yaml", "13-selection.yaml", "14-training.yaml", "15-eval.yaml", "16-recaption.yaml");
        var all = (await ReadBothWaysAsync(outDir).WithTimeout(Timeout)).SelectMany(d => d.Value).ToList();
        foreach (var doc in all)
        {
            ManifestSchema.Check(doc, Namespace).Should().BeEmpty($"{doc["kind"]} {doc["metadata"]?["name"]} must fit the schema");
        }
        CrossReferences(all).Should().BeEmpty();
        foreach (var path in written)
        {
            (await File.ReadAllTextAsync(path)).Should().NotContain(localData, "the local data folder is this machine's; pods mount the claim at /data");
        }

        foreach (var project in model.Resources.OfType<ProjectResource>())
        {
            var replicas = project.Annotations.OfType<ReplicaAnnotation>().Single().Replicas;
            Kind(all, "Deployment").Single(d => Name(d) == project.Name)["spec"]!["replicas"]!.GetValue<long>().Should().Be(replicas, project.Name);
            Kind(all, "ScaledObject").Single(s => Name(s) == project.Name)["spec"]!["minReplicaCount"]!.GetValue<long>().Should().Be(replicas);

            // Every variable Aspire itself evaluates for this project in publish mode is in the pod, under the
            // same name; only the AppHost's pid (no meaning in a pod), Aspire's local OTLP retry setting and
            // references to the https endpoint Aspire adds (and no pod binds) are left out.
            var env = EnvOf(all, project.Name);
            var aspire = await ExecutionConfigurationBuilder.Create(project).WithEnvironmentVariablesConfig()
                .BuildAsync(new DistributedApplicationExecutionContext(DistributedApplicationOperation.Publish), NullLogger.Instance, CancellationToken.None).WithTimeout(Timeout);
            foreach (var (key, _) in aspire.EnvironmentVariables)
            {
                if (key == KnownEnvironment.ParentPid || key.StartsWith("OTEL_DOTNET_", StringComparison.Ordinal) || key.Contains("https", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }
                var expected = key.StartsWith("services__", StringComparison.Ordinal) ? key.ToLowerInvariant() : key;
                env.Should().ContainKey(expected, $"{project.Name} gets {key} from the app model");
            }
            env.Should().NotContainKey(KnownEnvironment.ParentPid).And.NotContainKey("OTEL_DOTNET_EXPERIMENTAL_OTLP_RETRY");
            env[KnownEnvironment.RedisConnectionStringEnv]!["secretKeyRef"]!["key"]!.GetValue<string>().Should().Be(KubernetesNames.ConnectionStringKey);
            env[KnownEnvironment.DataDirectory]!["configMapKeyRef"]!["name"]!.GetValue<string>().Should().Be(KubernetesNames.SharedConfigMap);
            env[KnownEnvironment.GrpcEndpointUrlEnv]!.GetValue<string>().Should().Be("http://0.0.0.0:8080");
            env[KnownEnvironment.HttpEndpointUrlEnv]!.GetValue<string>().Should().Be("http://0.0.0.0:8081");
        }

        // WithReference(curation): Aspire's service-discovery names, pointing at curation's ClusterIP Service.
        var selection = EnvOf(all, "selection");
        selection["services__curation__grpc__0"]!.GetValue<string>().Should().Be("http://curation:8080");
        selection["services__curation__http__0"]!.GetValue<string>().Should().Be("http://curation:8081");
        selection["CURATION_GRPC"]!.GetValue<string>().Should().Be("http://curation:8080");
        selection.Keys.Should().NotContain(k => k.Contains("https", StringComparison.OrdinalIgnoreCase));
        EnvOf(all, "curation").Keys.Should().NotContain(k => k.StartsWith("services__", StringComparison.Ordinal));

        // User settings pass through the service's ConfigMap; publish-mode callbacks are what the cluster gets.
        var configMaps = Kind(all, "ConfigMap").ToDictionary(Name, c => StringMap(c["data"]));
        configMaps[KubernetesNames.ServiceConfigMap("scoring")]["SynthVlm__Scoring__BatchSize"].Should().Be("8");
        configMaps[KubernetesNames.ServiceConfigMap("eval")]["SynthVlm__Eval__Where"].Should().Be("cluster");
        configMaps[KubernetesNames.ServiceConfigMap("curation")].Should().NotContainKey("SynthVlm__Scoring__BatchSize");
        configMaps[KubernetesNames.SharedConfigMap][KnownEnvironment.DataDirectory].Should().Be("/data");
        configMaps[KubernetesNames.SharedConfigMap][KnownEnvironment.OtlpEndpoint].Should().Be("http://otel-collector.monitoring:4318");

        // Redis managed as today: AOF every second, the password from the Secret, one the services' parser accepts.
        CheckManagedRedis(all, outDir);

        foreach (var service in KnownServices.All)
        {
            Container(all, service.Name)["image"]!.GetValue<string>().Should().Be($"ghcr.io/acme/synthvlm-{service.Name}:1.2.3");
            var limits = Container(all, service.Name)["resources"]?["limits"]?[KubernetesNames.GpuResource]?.GetValue<long>() ?? 0;
            limits.Should().Be(service.Name is "recaption" or "diffusion" or "scoring" or "training" ? 1 : 0, service.Name);
            var scaled = Kind(all, "ScaledObject").Single(s => Name(s) == service.Name)["spec"]!;
            scaled["maxReplicaCount"]!.GetValue<long>().Should().Be(12);
            var trigger = scaled["triggers"]![0]!["metadata"]!;
            trigger["lagCount"]!.GetValue<string>().Should().Be("25");
            trigger["address"]!.GetValue<string>().Should().Be($"redis.{Namespace}.svc.cluster.local:6379");
        }
        Kind(all, "PersistentVolumeClaim").Single()["spec"]!["storageClassName"]!.GetValue<string>().Should().Be("nfs-client");
    }

    [Fact]
    public async Task A_model_built_in_run_mode_publishes_as_one_built_for_publishing()
    {
        // The AppHost may hand over the model its run-mode builder made; callbacks are evaluated in publish mode either way.
        var options = new KubernetesPublishOptions { RedisPassword = "fixed" };
        var data = Path.Combine(_root, "data");
        var published = await KubernetesPublisher.BuildAsync(AppModels.Pipeline(AppModels.PublishBuilder(), data).Model(), options).WithTimeout(Timeout);
        var run = await KubernetesPublisher.BuildAsync(AppModels.Pipeline(AppModels.RunBuilder(), data).Model(), options).WithTimeout(Timeout);

        run.Select(f => f.FileName).Should().Equal(published.Select(f => f.FileName));
        for (var i = 0; i < run.Count; i++)
        {
            run[i].ToYaml().Should().Be(WithoutForwardedHeaders(published[i].ToYaml()), run[i].FileName);
        }
    }

    /// <summary>
    /// The one difference: Aspire's AddProject registers ASPNETCORE_FORWARDEDHEADERS_ENABLED=true only
    /// on a builder in publish mode, so a run-mode model has no callback that sets it.
    /// </summary>
    private static string WithoutForwardedHeaders(string yaml) =>
        ForwardedHeadersEnv().Replace(ForwardedHeadersData().Replace(yaml, string.Empty), string.Empty);

    [GeneratedRegex("""^  ASPNETCORE_FORWARDEDHEADERS_ENABLED: "true"\n""", RegexOptions.Multiline)]
    private static partial Regex ForwardedHeadersData();

    [GeneratedRegex("""^ *- name: ASPNETCORE_FORWARDEDHEADERS_ENABLED\n( +(valueFrom|configMapKeyRef|name|key):.*\n){4}""", RegexOptions.Multiline)]
    private static partial Regex ForwardedHeadersEnv();

    [Fact]
    public async Task An_external_redis_gets_only_its_secret_and_keda_reads_its_address_user_and_tls()
    {
        var builder = AppModels.PublishBuilder();
        builder.Configuration[KnownEnvironment.RedisConnectionStringKey] = "redis.example.com:6380,user=synth,password=s3cret,ssl=true";
        var redis = builder.AddConnectionString(KnownEnvironment.RedisConnectionName);
        var curation = builder.AddService(KnownServices.Curation).WithReference(redis);
        builder.AddService(KnownServices.Selection).WithReference(redis).WithReference(curation);
        var outDir = Path.Combine(_root, "external");

        await KubernetesPublisher.WriteAsync(outDir, builder.Model(), new KubernetesPublishOptions { Namespace = Namespace, ScaleMetric = StreamScaleMetric.Pending, ScaleThreshold = 7 }).WithTimeout(Timeout);

        Directory.GetFiles(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal)
            .Should().Equal("00-namespace.yaml", "01-shared.yaml", "10-curation.yaml", "13-selection.yaml");
        var all = (await ReadBothWaysAsync(outDir).WithTimeout(Timeout)).SelectMany(d => d.Value).ToList();
        foreach (var doc in all)
        {
            ManifestSchema.Check(doc, Namespace).Should().BeEmpty();
        }
        CrossReferences(all).Should().BeEmpty();
        Kind(all, "StatefulSet").Should().BeEmpty();
        var secret = Kind(all, "Secret").Single()["stringData"]!;
        secret[KubernetesNames.ConnectionStringKey]!.GetValue<string>().Should().Be("redis.example.com:6380,user=synth,password=s3cret,ssl=true");
        var auth = Kind(all, "TriggerAuthentication").Single()["spec"]!["secretTargetRef"]!.AsArray()
            .Select(r => (r!["parameter"]!.GetValue<string>(), r["key"]!.GetValue<string>())).ToList();
        auth.Should().Equal(("password", KubernetesNames.PasswordKey), ("username", KubernetesNames.UserKey));
        var trigger = Kind(all, "ScaledObject").Single(s => Name(s) == "selection")["spec"]!["triggers"]![0]!["metadata"]!;
        trigger["address"]!.GetValue<string>().Should().Be("redis.example.com:6380");
        trigger["enableTLS"]!.GetValue<string>().Should().Be("true");
        trigger["pendingEntriesCount"]!.GetValue<string>().Should().Be("7");
        trigger["lagCount"].Should().BeNull();
        var env = EnvOf(all, "selection");
        env["services__curation__grpc__0"]!.GetValue<string>().Should().Be("http://curation:8080");
        env[KnownEnvironment.RedisConnectionStringEnv]!["secretKeyRef"]!["name"]!.GetValue<string>().Should().Be(KubernetesNames.RedisSecret);
    }

    [Fact]
    public async Task Aspire_redis_container_is_published_as_the_managed_redis_and_its_connection_properties_are_left_to_the_secret()
    {
        var builder = AppModels.PublishBuilder();
        var redis = builder.AddRedis(KnownEnvironment.RedisConnectionName);
        builder.AddService(KnownServices.Curation).WithReference(redis);
        var outDir = Path.Combine(_root, "aspire-redis");

        await KubernetesPublisher.WriteAsync(outDir, builder.Model(), new KubernetesPublishOptions { Namespace = Namespace }).WithTimeout(Timeout);

        var all = (await ReadBothWaysAsync(outDir).WithTimeout(Timeout)).SelectMany(d => d.Value).ToList();
        foreach (var doc in all)
        {
            ManifestSchema.Check(doc, Namespace).Should().BeEmpty();
        }
        CrossReferences(all).Should().BeEmpty();
        Kind(all, "StatefulSet").Select(Name).Should().Equal("redis");
        var env = EnvOf(all, "curation");
        env[KnownEnvironment.RedisConnectionStringEnv]!["secretKeyRef"]!["key"]!.GetValue<string>().Should().Be(KubernetesNames.ConnectionStringKey);
        // REDIS_HOST, REDIS_PASSWORD, … would point at the local container; the Secret's connection string is the one copy.
        env.Keys.Should().NotContain(k => k.StartsWith("REDIS_", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Strings_a_yaml_reader_would_retype_are_quoted_and_read_back_as_strings()
    {
        var builder = AppModels.PublishBuilder();
        var redis = builder.AddRedisServer(Path.Combine(_root, "redis"));
        var eval = builder.AddService(KnownServices.Eval).WithReference(redis);
        var values = new[] { ("A_yes", "yes"), ("A_off", "Off"), ("A_num", "0755"), ("A_float", "1e3"), ("A_null", "~"), ("A_inf", ".inf"), ("A_colon", "x:"), ("A_hash", "a #b"), ("A_empty", "") };
        foreach (var (key, value) in values)
        {
            eval.WithEnvironment(key, value);
        }

        var files = await KubernetesPublisher.BuildAsync(builder.Model(), new KubernetesPublishOptions { RedisPassword = "p" }).WithTimeout(Timeout);

        var stream = new YamlStream();
        stream.Load(new StringReader(files.Single(f => f.FileName == "15-eval.yaml").ToYaml()));
        var data = (YamlMappingNode)((YamlMappingNode)stream.Documents[0].RootNode)["data"];
        foreach (var (key, value) in values)
        {
            var node = (YamlScalarNode)data[key];
            node.Value.Should().Be(value);
            node.Style.Should().NotBe(ScalarStyle.Plain, $"'{value}' read as plain would not stay a string");
        }
    }

    [Fact]
    public async Task The_web_front_end_gets_a_deployment_and_service_on_its_http_port_and_no_scaler()
    {
        var web = Directory.CreateDirectory(Path.Combine(_root, "Web")).FullName;
        await File.WriteAllTextAsync(Path.Combine(web, "appsettings.json"), """{ "Kestrel": { "Endpoints": { "Http": { "Url": "http://127.0.0.1:5300" } } } }""");
        await File.WriteAllTextAsync(Path.Combine(web, "Web.csproj"), """<Project Sdk="Microsoft.NET.Sdk.Web" />""");
        var builder = AppModels.Pipeline(AppModels.PublishBuilder(), Path.Combine(_root, "data"));
        builder.AddProject("web", Path.Combine(web, "Web.csproj"))
            .WithReference(Project(builder, "curation"))
            .WithReference(builder.Resources.OfType<RedisServerResource>().Select(builder.CreateResourceBuilder).Single())
            .WithReplicas(2);
        var outDir = Path.Combine(_root, "web-out");

        var written = await KubernetesPublisher.WriteAsync(outDir, builder.Model(), new KubernetesPublishOptions { Namespace = Namespace, RedisPassword = "p" }).WithTimeout(Timeout);

        written.Select(Path.GetFileName).Should().EndWith("17-web.yaml");
        var all = (await ReadBothWaysAsync(outDir).WithTimeout(Timeout)).SelectMany(d => d.Value).ToList();
        foreach (var doc in all)
        {
            ManifestSchema.Check(doc, Namespace).Should().BeEmpty($"{doc["kind"]} {doc["metadata"]?["name"]} must fit the schema");
        }
        CrossReferences(all).Should().BeEmpty();
        Kind(all, "ScaledObject").Select(Name).Should().Equal(KnownServices.All.Select(s => s.Name));
        Kind(all, "Deployment").Single(d => Name(d) == "web")["spec"]!["replicas"]!.GetValue<long>().Should().Be(2);
        Container(all, "web")["image"]!.GetValue<string>().Should().Be("synthvlm-web:latest");
        Container(all, "web")["ports"]!.AsArray().Select(p => (p!["name"]!.GetValue<string>(), p["containerPort"]!.GetValue<long>())).Should().Equal(("http", 8081L));
        Kind(all, "Service").Single(s => Name(s) == "web")["spec"]!["ports"]!.AsArray().Select(p => p!["name"]!.GetValue<string>()).Should().Equal("http");
        var env = EnvOf(all, "web");
        env.Should().ContainKey(KnownEnvironment.HttpEndpointUrlEnv).And.NotContainKey(KnownEnvironment.GrpcEndpointUrlEnv);
        env["services__curation__grpc__0"]!.GetValue<string>().Should().Be("http://curation:8080");
        env.Should().ContainKey(KnownEnvironment.RedisConnectionStringEnv);
    }

    [Fact]
    public async Task A_model_without_redis_is_refused_naming_it()
    {
        var builder = AppModels.PublishBuilder();
        builder.AddService(KnownServices.Curation);

        var act = () => KubernetesPublisher.BuildAsync(builder.Model(), new KubernetesPublishOptions());

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("'redis'");
    }

    [Fact]
    public async Task A_name_that_is_not_a_dns_label_is_refused_naming_it()
    {
        var builder = AppModels.PublishBuilder();
        var redis = builder.AddRedisServer(Path.Combine(_root, "redis"));
        builder.AddProject("Curation", Path.Combine(RepoPaths.Root, "CurationService", "CurationService.csproj")).WithReference(redis);

        var act = () => KubernetesPublisher.BuildAsync(builder.Model(), new KubernetesPublishOptions());

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("'Curation'").And.Contain("DNS-1123");
    }

    [Fact]
    public async Task A_project_that_is_no_service_and_a_secret_value_are_refused_naming_them()
    {
        var builder = AppModels.PublishBuilder();
        var redis = builder.AddRedisServer(Path.Combine(_root, "redis"));
        builder.AddProject("ranker", Path.Combine(RepoPaths.Root, "CurationService", "CurationService.csproj")).WithReference(redis);
        var unknown = () => KubernetesPublisher.BuildAsync(builder.Model(), new KubernetesPublishOptions());
        (await unknown.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("'ranker'");

        builder = AppModels.PublishBuilder();
        redis = builder.AddRedisServer(Path.Combine(_root, "redis"));
        builder.AddService(KnownServices.Curation).WithReference(redis).WithEnvironment("Judge__ApiKey", builder.AddParameter("judge-key", secret: true));
        var secret = () => KubernetesPublisher.BuildAsync(builder.Model(), new KubernetesPublishOptions());
        (await secret.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("'Judge__ApiKey'").And.Contain("'judge-key'");
    }

    [Fact]
    public async Task An_external_redis_without_a_connection_string_is_refused_naming_the_setting()
    {
        var builder = AppModels.PublishBuilder();
        builder.AddService(KnownServices.Curation).WithReference(builder.AddConnectionString(KnownEnvironment.RedisConnectionName));

        var act = () => KubernetesPublisher.BuildAsync(builder.Model(), new KubernetesPublishOptions());

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain(KnownEnvironment.RedisConnectionStringKey);
    }

    [Fact]
    public async Task A_non_empty_out_folder_is_refused_and_left_as_it_was()
    {
        var outDir = Directory.CreateDirectory(Path.Combine(_root, "taken")).FullName;
        var keep = Path.Combine(outDir, "11-diffusion.yaml");
        await File.WriteAllTextAsync(keep, "mine");
        var builder = AppModels.Pipeline(AppModels.PublishBuilder(), Path.Combine(_root, "data"));

        var act = () => KubernetesPublisher.WriteAsync(outDir, builder.Model(), new KubernetesPublishOptions());

        (await act.Should().ThrowAsync<IOException>()).Which.Message.Should().Contain("not empty").And.Contain(outDir);
        Directory.GetFiles(outDir).Should().Equal(keep);
        (await File.ReadAllTextAsync(keep)).Should().Be("mine");
    }

    [Fact]
    public async Task A_run_mode_execution_context_is_refused()
    {
        var builder = AppModels.Pipeline(AppModels.PublishBuilder(), Path.Combine(_root, "data"));

        var act = () => KubernetesPublisher.BuildAsync(builder.Model(), new KubernetesPublishOptions(), new DistributedApplicationExecutionContext(DistributedApplicationOperation.Run));

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("Publish mode");
    }
}
