using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using SynthVlm.Streams;
using YamlDotNet.RepresentationModel;
using static SynthVlm.Hosting.Kubernetes.ManifestYaml;

namespace SynthVlm.Hosting.Kubernetes;

/// <summary>One manifest file: its name in the output folder and the objects it holds, in apply order.</summary>
/// <param name="FileName">The file name; files sort in the order <c>kubectl apply -f DIR</c> should take them.</param>
/// <param name="Documents">The Kubernetes objects.</param>
public sealed record ManifestFile(string FileName, IReadOnlyList<YamlMappingNode> Documents)
{
    /// <summary>The file's text: one <c>---</c> document per object.</summary>
    public string ToYaml()
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
        ManifestYaml.Write(writer, Documents);
        return writer.ToString();
    }
}

/// <summary>
/// Turns the AppHost's Aspire app model into Kubernetes manifests, so the cluster the AppHost runs
/// locally and the one it publishes come from one description: the shared objects (Namespace,
/// ConfigMap, Redis Secret, data claim, KEDA TriggerAuthentication), Redis as a StatefulSet with a
/// headless Service unless it is the user's own (<c>AddConnectionString("redis")</c>), and per
/// project a ConfigMap, Deployment and ClusterIP Service, plus for each pipeline stage a KEDA
/// ScaledObject on the lag of its consumer group. Replicas come from the model's
/// <see cref="ReplicaAnnotation"/>, ports from its <see cref="EndpointAnnotation"/>s, and the
/// environment from its environment callbacks evaluated for publishing, with Kubernetes sources
/// (Secret, ConfigMaps, the downward API) for the values.
/// </summary>
public static class KubernetesPublisher
{
    /// <summary>The file with the namespace.</summary>
    public const string NamespaceFile = "00-namespace.yaml";

    /// <summary>The file with the shared ConfigMap, the Redis Secret, the data claim and the TriggerAuthentication.</summary>
    public const string SharedFile = "01-shared.yaml";

    /// <summary>The file with the managed Redis (absent with an external one).</summary>
    public const string RedisFile = "02-redis.yaml";

    /// <summary>The publisher name the execution context carries when <see cref="BuildAsync(DistributedApplicationModel, KubernetesPublishOptions, CancellationToken)"/> makes one.</summary>
    public const string PublisherName = "kubernetes";

    private const string ManagedBy = "app.kubernetes.io/managed-by";
    private const string ManagedByValue = "synthvlm-apphost";
    private const int PasswordBytes = 24;

    /// <summary>The file holding <paramref name="service"/>'s objects.</summary>
    public static string ServiceFile(int pipelineIndex, string service) =>
        string.Create(CultureInfo.InvariantCulture, $"{10 + pipelineIndex}-{service}.yaml");

    /// <summary>Builds the manifests of <paramref name="model"/>, evaluating its environment callbacks in publish mode.</summary>
    /// <param name="model">The app model: a resource named <c>redis</c> with a connection string, the SynthVlm service projects and optionally the <c>web</c> front end.</param>
    /// <param name="options">Images, namespace, GPUs, storage and scaling.</param>
    /// <param name="cancellationToken">Cancels evaluating the environment callbacks.</param>
    /// <exception cref="ArgumentException">The options are invalid, or the model has no Redis, a name Kubernetes refuses, a project the publisher has no image for, or a value it cannot publish.</exception>
    public static Task<IReadOnlyList<ManifestFile>> BuildAsync(DistributedApplicationModel model, KubernetesPublishOptions options, CancellationToken cancellationToken = default) =>
        BuildAsync(model, options, new DistributedApplicationExecutionContext(DistributedApplicationOperation.Publish, PublisherName), cancellationToken);

    /// <summary>Builds the manifests of <paramref name="model"/> with the AppHost's own publish-mode execution context (one that carries its services, for callbacks that need them).</summary>
    /// <param name="model">The app model (see <see cref="BuildAsync(DistributedApplicationModel, KubernetesPublishOptions, CancellationToken)"/>).</param>
    /// <param name="options">Images, namespace, GPUs, storage and scaling.</param>
    /// <param name="executionContext">A publish-mode context, passed to every environment callback.</param>
    /// <param name="cancellationToken">Cancels evaluating the environment callbacks.</param>
    /// <exception cref="ArgumentException">As the other overload, or <paramref name="executionContext"/> is not in publish mode.</exception>
    public static async Task<IReadOnlyList<ManifestFile>> BuildAsync(DistributedApplicationModel model, KubernetesPublishOptions options, DistributedApplicationExecutionContext executionContext, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(executionContext);
        if (!executionContext.IsPublishMode)
        {
            // Run-mode callbacks describe this machine (allocated ports, the dashboard); the manifests need the publish-mode ones.
            throw new ArgumentException($"The execution context is in {executionContext.Operation} mode; the Kubernetes publisher evaluates the model in Publish mode.", nameof(executionContext));
        }
        options.Validate();
        var published = await AppModelReader.ReadAsync(model, executionContext, cancellationToken).ConfigureAwait(false);
        var redis = published.Redis;
        if (!KubernetesNames.IsDnsLabel(redis.Name))
        {
            throw new ArgumentException($"Resource name '{redis.Name}' is not a DNS-1123 label, so it cannot name a Kubernetes Service.", nameof(model));
        }
        var connection = RedisEndpoint.Of(redis, options);

        var files = new List<ManifestFile>
        {
            new(NamespaceFile, [Map(("apiVersion", Str("v1")), ("kind", Str("Namespace")), ("metadata", Map(("name", Str(options.Namespace)), ("labels", Labels(options.Namespace, "namespace")))))]),
            new(SharedFile, Shared(options, connection)),
        };
        if (redis.IsManaged)
        {
            files.Add(new(RedisFile, ManagedRedis(redis.Name, options)));
        }
        foreach (var project in published.Projects)
        {
            files.Add(new(ServiceFile(AppModelReader.Order(project.Name), project.Name), Project(project, connection, options)));
        }
        return files;
    }

    /// <summary>Builds the manifests of <paramref name="model"/> and writes them into <paramref name="directory"/>, which must be new or empty.</summary>
    /// <returns>The paths written, in apply order.</returns>
    /// <exception cref="ArgumentException">As <see cref="BuildAsync(DistributedApplicationModel, KubernetesPublishOptions, CancellationToken)"/>; nothing is written.</exception>
    /// <exception cref="IOException"><paramref name="directory"/> exists and is not empty, or is a file (nothing is overwritten).</exception>
    public static Task<IReadOnlyList<string>> WriteAsync(string directory, DistributedApplicationModel model, KubernetesPublishOptions options, CancellationToken cancellationToken = default) =>
        WriteAsync(directory, model, options, new DistributedApplicationExecutionContext(DistributedApplicationOperation.Publish, PublisherName), cancellationToken);

    /// <summary>As <see cref="WriteAsync(string, DistributedApplicationModel, KubernetesPublishOptions, CancellationToken)"/>, with the AppHost's own publish-mode execution context.</summary>
    /// <returns>The paths written, in apply order.</returns>
    /// <exception cref="ArgumentException">As <see cref="BuildAsync(DistributedApplicationModel, KubernetesPublishOptions, DistributedApplicationExecutionContext, CancellationToken)"/>; nothing is written.</exception>
    /// <exception cref="IOException"><paramref name="directory"/> exists and is not empty, or is a file (nothing is overwritten).</exception>
    public static async Task<IReadOnlyList<string>> WriteAsync(string directory, DistributedApplicationModel model, KubernetesPublishOptions options, DistributedApplicationExecutionContext executionContext, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var files = await BuildAsync(model, options, executionContext, cancellationToken).ConfigureAwait(false);
        var full = Path.GetFullPath(directory);
        if (File.Exists(full))
        {
            throw new IOException($"Output '{full}' is a file; give a new or empty folder.");
        }
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
        {
            throw new IOException($"Output folder '{full}' is not empty; give a new or empty folder so no manifest is overwritten or left stale.");
        }
        Directory.CreateDirectory(full);
        var written = new List<string>();
        foreach (var file in files)
        {
            var path = Path.Combine(full, file.FileName);
            await File.WriteAllTextAsync(path, file.ToYaml(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), cancellationToken).ConfigureAwait(false);
            if (file.FileName == SharedFile && !OperatingSystem.IsWindows())
            {
                // It holds the Redis Secret's stringData: readable by its owner only.
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            written.Add(path);
        }
        return written;
    }

    private static List<YamlMappingNode> Shared(KubernetesPublishOptions options, RedisEndpoint redis)
    {
        var config = new List<KeyValuePair<string, string>> { new(KnownEnvironment.DataDirectory, KubernetesNames.DataMountPath) };
        if (options.OtlpEndpoint is { } otlp)
        {
            config.Add(new(KnownEnvironment.OtlpEndpoint, otlp.ToString().TrimEnd('/')));
        }
        var secret = new List<KeyValuePair<string, string>> { new(KubernetesNames.ConnectionStringKey, redis.ConnectionString) };
        if (redis.Password is not null)
        {
            secret.Add(new(KubernetesNames.PasswordKey, redis.Password));
        }
        if (redis.User is not null)
        {
            secret.Add(new(KubernetesNames.UserKey, redis.User));
        }
        var claim = Map(
            ("accessModes", Seq(Str("ReadWriteMany"))),
            ("storageClassName", options.StorageClass is null ? null : Str(options.StorageClass)),
            ("resources", Map(("requests", Map(("storage", Str(options.DataSize)))))));
        var docs = new List<YamlMappingNode>
        {
            Object("v1", "ConfigMap", KubernetesNames.SharedConfigMap, options, "config", ("data", StrMap(config))),
            Object("v1", "Secret", KubernetesNames.RedisSecret, options, "config", ("type", Str("Opaque")), ("stringData", StrMap(secret))),
            Object("v1", "PersistentVolumeClaim", KubernetesNames.DataClaim, options, "storage", ("spec", claim)),
        };
        if (redis.Password is not null)
        {
            var refs = new List<YamlNode> { SecretTarget("password", KubernetesNames.PasswordKey) };
            if (redis.User is not null)
            {
                refs.Add(SecretTarget("username", KubernetesNames.UserKey));
            }
            docs.Add(Object("keda.sh/v1alpha1", "TriggerAuthentication", KubernetesNames.TriggerAuthentication, options, "autoscaling",
                ("spec", Map(("secretTargetRef", Seq(refs))))));
        }
        return docs;

        static YamlMappingNode SecretTarget(string parameter, string key) =>
            Map(("parameter", Str(parameter)), ("name", Str(KubernetesNames.RedisSecret)), ("key", Str(key)));
    }

    private static List<YamlMappingNode> ManagedRedis(string name, KubernetesPublishOptions options)
    {
        const string passwordEnv = "REDIS_PASSWORD";
        var selector = SelectorLabels(name);
        var claimSpec = Map(
            ("accessModes", Seq(Str("ReadWriteOnce"))),
            ("storageClassName", options.StorageClass is null ? null : Str(options.StorageClass)),
            ("resources", Map(("requests", Map(("storage", Str(options.RedisDataSize)))))));
        var container = Map(
            ("name", Str("redis")),
            ("image", Str(options.RedisImage)),
            // AOF fsynced every second, as the local AppHost runs it; the password comes from the Secret
            // through Kubernetes' $(VAR) expansion so it never appears in the manifest's args.
            ("args", Seq(Str("--appendonly"), Str("yes"), Str("--appendfsync"), Str("everysec"), Str("--dir"), Str(KubernetesNames.DataMountPath),
                Str("--requirepass"), Str($"$({passwordEnv})"))),
            ("env", Seq(Map(("name", Str(passwordEnv)), ("valueFrom", SecretRef(KubernetesNames.PasswordKey))))),
            ("ports", Seq(Port("redis", KubernetesNames.RedisPort))),
            ("volumeMounts", Seq(Map(("name", Str(KubernetesNames.DataVolume)), ("mountPath", Str(KubernetesNames.DataMountPath))))),
            ("readinessProbe", Map(
                ("exec", Map(("command", Seq(Str("sh"), Str("-c"), Str("redis-cli -a \"$REDIS_PASSWORD\" --no-auth-warning ping | grep -q PONG"))))),
                ("periodSeconds", Int(5)))),
            ("livenessProbe", Map(("tcpSocket", Map(("port", Str("redis")))), ("periodSeconds", Int(10)))));
        var statefulSet = Object("apps/v1", "StatefulSet", name, options, "redis", ("spec", Map(
            ("serviceName", Str(name)),
            ("replicas", Int(1)),
            ("selector", Map(("matchLabels", StrMap(selector)))),
            ("template", Map(
                ("metadata", Map(("labels", Labels(name, "redis")))),
                ("spec", Map(("containers", Seq(container)))))),
            ("volumeClaimTemplates", Seq(Map(("metadata", Map(("name", Str(KubernetesNames.DataVolume)))), ("spec", claimSpec)))))));
        var headless = Object("v1", "Service", name, options, "redis", ("spec", Map(
            ("clusterIP", Str("None")),
            ("selector", StrMap(selector)),
            ("ports", Seq(Map(("name", Str("redis")), ("port", Int(KubernetesNames.RedisPort)), ("targetPort", Str("redis")), ("protocol", Str("TCP"))))))));
        return [statefulSet, headless];
    }

    private static List<YamlMappingNode> Project(PublishedProject project, RedisEndpoint connection, KubernetesPublishOptions options)
    {
        var name = project.Name;
        var hasGrpc = project.Endpoints.Contains(KubernetesNames.GrpcPortName);
        var serviceConfig = new List<KeyValuePair<string, string>> { new(KnownEnvironment.OtelServiceName, name) };
        serviceConfig.AddRange(project.Settings);

        var env = new List<YamlNode>
        {
            Env(KnownEnvironment.InstanceName, Map(("fieldRef", Map(("fieldPath", Str("metadata.name")))))),
            Env(KnownEnvironment.OtelServiceName, ConfigMapRef(KubernetesNames.ServiceConfigMap(name), KnownEnvironment.OtelServiceName)),
            // Declared after SYNTHVLM_INSTANCE so Kubernetes expands $(SYNTHVLM_INSTANCE) to the pod name.
            EnvValue(KnownEnvironment.OtelResourceAttributes, $"service.instance.id=$({KnownEnvironment.InstanceName})"),
        };
        if (hasGrpc)
        {
            env.Add(EnvValue(KnownEnvironment.GrpcEndpointUrlEnv, KubernetesNames.AnyAddressUrl(KubernetesNames.GrpcPort)));
        }
        env.Add(EnvValue(KnownEnvironment.HttpEndpointUrlEnv, KubernetesNames.AnyAddressUrl(KubernetesNames.HttpPort)));
        env.Add(Env(KnownEnvironment.DataDirectory, ConfigMapRef(KubernetesNames.SharedConfigMap, KnownEnvironment.DataDirectory)));
        if (options.OtlpEndpoint is not null)
        {
            env.Add(Env(KnownEnvironment.OtlpEndpoint, ConfigMapRef(KubernetesNames.SharedConfigMap, KnownEnvironment.OtlpEndpoint)));
        }
        foreach (var key in project.RedisEnvironment)
        {
            env.Add(Env(key, SecretRef(KubernetesNames.ConnectionStringKey)));
        }
        foreach (var (key, value) in project.References)
        {
            env.Add(EnvValue(key, value));
        }
        foreach (var (key, _) in project.Settings)
        {
            env.Add(Env(key, ConfigMapRef(KubernetesNames.ServiceConfigMap(name), key)));
        }

        var gpus = options.GpusOf(name);
        var container = Map(
            ("name", Str(name)),
            ("image", Str(KubernetesNames.Image(options.ImageRegistry, name, options.ImageTag))),
            ("imagePullPolicy", Str("IfNotPresent")),
            ("ports", Seq(hasGrpc
                ? [Port(KubernetesNames.GrpcPortName, KubernetesNames.GrpcPort), Port(KubernetesNames.HttpPortName, KubernetesNames.HttpPort)]
                : new YamlNode[] { Port(KubernetesNames.HttpPortName, KubernetesNames.HttpPort) })),
            ("env", Seq(env)),
            ("volumeMounts", Seq(Map(("name", Str(KubernetesNames.DataVolume)), ("mountPath", Str(KubernetesNames.DataMountPath))))),
            // Loading models can take minutes; the startup probe holds liveness off until the process answers.
            ("startupProbe", Map(("httpGet", Map(("path", Str(KubernetesNames.AlivePath)), ("port", Str(KubernetesNames.HttpPortName)))), ("periodSeconds", Int(5)), ("failureThreshold", Int(120)))),
            ("livenessProbe", Map(("httpGet", Map(("path", Str(KubernetesNames.AlivePath)), ("port", Str(KubernetesNames.HttpPortName)))), ("periodSeconds", Int(10)), ("failureThreshold", Int(3)))),
            ("readinessProbe", Map(("httpGet", Map(("path", Str(KubernetesNames.HealthPath)), ("port", Str(KubernetesNames.HttpPortName)))), ("periodSeconds", Int(5)), ("failureThreshold", Int(3)))),
            ("resources", gpus > 0 ? Map(("limits", Map((KubernetesNames.GpuResource, Int(gpus))))) : null));
        var podSpec = Map(
            ("terminationGracePeriodSeconds", Int(30)),
            ("containers", Seq(container)),
            // GPU nodes are commonly tainted so that only pods asking for GPUs land there.
            ("tolerations", gpus > 0 ? Seq(Map(("key", Str(KubernetesNames.GpuResource)), ("operator", Str("Exists")), ("effect", Str("NoSchedule")))) : null),
            ("volumes", Seq(Map(("name", Str(KubernetesNames.DataVolume)), ("persistentVolumeClaim", Map(("claimName", Str(KubernetesNames.DataClaim))))))));
        var selector = SelectorLabels(name);
        var component = project.Stage is null ? "web" : "stage";
        var deployment = Object("apps/v1", "Deployment", name, options, component, ("spec", Map(
            ("replicas", Int(project.Replicas)),
            ("selector", Map(("matchLabels", StrMap(selector)))),
            ("template", Map(("metadata", Map(("labels", Labels(name, component)))), ("spec", podSpec))))));
        var servicePorts = new List<YamlNode>();
        if (hasGrpc)
        {
            servicePorts.Add(Map(("name", Str(KubernetesNames.GrpcPortName)), ("port", Int(KubernetesNames.GrpcPort)), ("targetPort", Str(KubernetesNames.GrpcPortName)), ("protocol", Str("TCP")), ("appProtocol", Str("kubernetes.io/h2c"))));
        }
        servicePorts.Add(Map(("name", Str(KubernetesNames.HttpPortName)), ("port", Int(KubernetesNames.HttpPort)), ("targetPort", Str(KubernetesNames.HttpPortName)), ("protocol", Str("TCP"))));
        var clusterIp = Object("v1", "Service", name, options, component, ("spec", Map(
            ("type", Str("ClusterIP")),
            ("selector", StrMap(selector)),
            ("ports", Seq(servicePorts)))));
        var configMap = Object("v1", "ConfigMap", KubernetesNames.ServiceConfigMap(name), options, "config", ("data", StrMap(serviceConfig)));
        if (project.Stage is not { } stage)
        {
            // The front end is not a stream consumer: nothing for KEDA to measure.
            return [configMap, deployment, clusterIp];
        }

        var trigger = new List<KeyValuePair<string, string>>
        {
            new("address", connection.Address),
            new("stream", stage.InputStream),
            new("consumerGroup", stage.ConsumerGroup),
            new(options.ScaleMetric == StreamScaleMetric.Lag ? "lagCount" : "pendingEntriesCount", options.ScaleThreshold.ToString(CultureInfo.InvariantCulture)),
            new("databaseIndex", connection.Database.ToString(CultureInfo.InvariantCulture)),
            new("enableTLS", connection.UseTls ? "true" : "false"),
        };
        var scaledObject = Object("keda.sh/v1alpha1", "ScaledObject", name, options, "autoscaling", ("spec", Map(
            ("scaleTargetRef", Map(("apiVersion", Str("apps/v1")), ("kind", Str("Deployment")), ("name", Str(name)))),
            ("minReplicaCount", Int(project.Replicas)),
            ("maxReplicaCount", Int(Math.Max(project.Replicas, options.MaxReplicas))),
            ("pollingInterval", Int(15)),
            ("cooldownPeriod", Int(300)),
            ("triggers", Seq(Map(
                ("type", Str("redis-streams")),
                ("metadata", StrMap(trigger)),
                ("authenticationRef", connection.Password is null ? null : Map(("name", Str(KubernetesNames.TriggerAuthentication))))))))));

        return
        [
            configMap,
            deployment,
            clusterIp,
            scaledObject,
        ];
    }

    private static YamlMappingNode Object(string apiVersion, string kind, string name, KubernetesPublishOptions options, string component, params (string Key, YamlNode? Value)[] body)
    {
        var entries = new List<(string, YamlNode?)>
        {
            ("apiVersion", Str(apiVersion)),
            ("kind", Str(kind)),
            ("metadata", Map(("name", Str(name)), ("namespace", Str(options.Namespace)), ("labels", Labels(name, component)))),
        };
        entries.AddRange(body);
        return Map([.. entries]);
    }

    private static List<KeyValuePair<string, string>> SelectorLabels(string name) =>
        [new(KubernetesNames.NameLabel, name), new(KubernetesNames.PartOfLabel, KubernetesNames.PartOf)];

    private static YamlMappingNode Labels(string name, string component)
    {
        var labels = SelectorLabels(name);
        labels.Add(new(KubernetesNames.ComponentLabel, component));
        labels.Add(new(ManagedBy, ManagedByValue));
        return StrMap(labels);
    }

    private static YamlMappingNode Port(string name, int port) =>
        Map(("name", Str(name)), ("containerPort", Int(port)), ("protocol", Str("TCP")));

    private static YamlMappingNode Env(string name, YamlNode valueFrom) => Map(("name", Str(name)), ("valueFrom", valueFrom));

    private static YamlMappingNode EnvValue(string name, string value) => Map(("name", Str(name)), ("value", Str(value)));

    private static YamlMappingNode ConfigMapRef(string configMap, string key) =>
        Map(("configMapKeyRef", Map(("name", Str(configMap)), ("key", Str(key)))));

    private static YamlMappingNode SecretRef(string key) =>
        Map(("secretKeyRef", Map(("name", Str(KubernetesNames.RedisSecret)), ("key", Str(key)))));

    /// <summary>Where services and KEDA reach Redis, and with which credentials.</summary>
    private sealed record RedisEndpoint(string ConnectionString, string Address, string? User, string? Password, int Database, bool UseTls)
    {
        public static RedisEndpoint Of(PublishedRedis redis, KubernetesPublishOptions options)
        {
            if (redis.ExternalConnectionString is { } external)
            {
                RedisConnectionOptions parsed;
                try
                {
                    parsed = RedisConnectionOptions.Parse(external);
                }
                catch (FormatException e)
                {
                    throw new ArgumentException($"The external Redis connection string ({KnownEnvironment.RedisConnectionStringKey}) is not valid: {e.Message}", nameof(redis), e);
                }
                return new(external, parsed.EndPoint, parsed.User, parsed.Password, parsed.Database, parsed.UseTls);
            }
            var password = options.RedisPassword ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(PasswordBytes));
            // Services resolve the short name inside the namespace; KEDA's operator runs in its own
            // namespace and needs the fully qualified one.
            return new(
                $"{redis.Name}:{KubernetesNames.RedisPort},password={password}",
                $"{redis.Name}.{options.Namespace}.svc.cluster.local:{KubernetesNames.RedisPort}",
                User: null,
                password,
                Database: 0,
                UseTls: false);
        }
    }
}
