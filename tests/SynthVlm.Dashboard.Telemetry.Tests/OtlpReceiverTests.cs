using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using SynthVlm.Dashboard.Telemetry.Otlp;
using SynthVlm.Testing;

namespace SynthVlm.Dashboard.Telemetry.Tests;

/// <summary>
/// The receiver on a real Kestrel listener, fed by the real OpenTelemetry .NET SDK's OTLP/HTTP
/// exporter: what the SDK sends is what the store holds.
/// </summary>
public sealed class OtlpReceiverTests : IAsyncLifetime
{
    private const string Key = "k3y-for-tests";
    private readonly TelemetryStore _store = new();
    private WebApplication _app = null!;
    private Uri _endpoint = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.MapOtlpHttp(_store, new OtlpReceiverOptions { ApiKey = Key, MaxRequestBytes = 1 << 20 });
        await _app.StartAsync();
        _endpoint = new Uri(_app.Urls.First().TrimEnd('/') + "/");
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    private void Configure(OtlpExporterOptions o, string signal, string key = Key)
    {
        o.Endpoint = new Uri(_endpoint, signal);
        o.Protocol = OtlpExportProtocol.HttpProtobuf;
        o.Headers = $"{OtlpHttpEndpoints.ApiKeyHeader}={key}";
    }

    private TracerProvider Tracer(string service, string source, string key = Key) =>
        Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService(service, serviceInstanceId: service + "-0"))
            .AddSource(source)
            .AddOtlpExporter(o => Configure(o, "v1/traces", key))
            .Build()!;

    [Fact]
    public void Spans_of_two_services_sharing_a_trace_arrive_as_one_trace_with_parents_attributes_events_links_and_status()
    {
        var sourceName = "test.spans." + Guid.NewGuid().ToString("N");
        // One source per service, as in two processes: each provider exports only its own spans.
        using var source = new ActivitySource(sourceName);
        using var downstream = new ActivitySource(sourceName + ".downstream");
        string traceId, rootId, childId, linkedSpan;
        using (var curation = Tracer("curation", sourceName))
        {
            using (var linked = source.StartActivity("elsewhere"))
            {
                linkedSpan = linked!.SpanId.ToHexString();
            }
            using var root = source.StartActivity("run r1", ActivityKind.Server)!;
            root.SetTag("synthvlm.run", "r1");
            root.SetTag("count", 3);
            root.SetTag("tags", new[] { "a", "b" });
            traceId = root.TraceId.ToHexString();
            rootId = root.SpanId.ToHexString();
            root.AddEvent(new ActivityEvent("checkpoint", tags: new ActivityTagsCollection { ["at"] = 42L }));
            root.Stop();
            curation.ForceFlush().Should().BeTrue();

            using var diffusion = Tracer("diffusion", sourceName + ".downstream");
            // The remote parent is how a stream message carries the trace to the next service.
            using (var child = downstream.StartActivity("process synthvlm:curated", ActivityKind.Consumer, new ActivityContext(root.TraceId, root.SpanId, ActivityTraceFlags.Recorded, isRemote: true),
                links: [new ActivityLink(new ActivityContext(root.TraceId, ActivitySpanId.CreateFromString(linkedSpan), ActivityTraceFlags.Recorded))])!)
            {
                childId = child.SpanId.ToHexString();
                child.SetStatus(ActivityStatusCode.Error, "model file missing");
            }
            diffusion.ForceFlush().Should().BeTrue();
        }

        var trace = _store.GetTrace(traceId);
        trace.Should().NotBeNull();
        trace!.Summary.Services.Should().Equal("curation", "diffusion");
        trace.Summary.Run.Should().Be("r1");
        trace.Summary.ErrorCount.Should().Be(1);
        var names = trace.Spans.Select(s => (s.Span.Name, s.Depth)).ToList();
        names.Should().ContainInOrder(("run r1", 0), ("process synthvlm:curated", 1));
        var rootSpan = trace.Spans.Single(s => s.Span.SpanId == rootId).Span;
        rootSpan.Kind.Should().Be("server");
        rootSpan.Instance.Should().Be("curation-0");
        rootSpan.Attribute("count").Should().Be("3");
        rootSpan.Attribute("tags").Should().Be("[\"a\",\"b\"]");
        rootSpan.Events.Should().ContainSingle(e => e.Name == "checkpoint" && e.Attributes.Single().Value == "42");
        rootSpan.Duration.Should().BeGreaterThanOrEqualTo(TimeSpan.Zero);
        var childSpan = trace.Spans.Single(s => s.Span.SpanId == childId).Span;
        childSpan.ParentSpanId.Should().Be(rootId);
        childSpan.Service.Should().Be("diffusion");
        childSpan.Status.Should().Be(SpanStatus.Error);
        childSpan.StatusMessage.Should().Be("model file missing");
        childSpan.Links.Should().ContainSingle().Which.SpanId.Should().Be(linkedSpan);
        _store.ListTraces(run: "r1").Should().ContainSingle(t => t.TraceId == traceId);
        _store.ListTraces(service: "diffusion").Select(t => t.TraceId).Should().Contain(traceId);
    }

    [Fact]
    public void Logs_arrive_with_severity_message_category_and_the_trace_they_were_written_in()
    {
        var sourceName = "test.logs." + Guid.NewGuid().ToString("N");
        using var source = new ActivitySource(sourceName);
        using var tracer = Tracer("scoring", sourceName);
        var factory = LoggerFactory.Create(b => b.AddOpenTelemetry(o =>
        {
            o.SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService("scoring", serviceInstanceId: "scoring-1"));
            o.IncludeFormattedMessage = true;
            o.AddOtlpExporter(e => Configure(e, "v1/logs"));
        }));
        string traceId;
        using (factory)
        {
            var logger = factory.CreateLogger("SynthVlm.Scoring.PairScorer");
            using (var activity = source.StartActivity("score pair")!)
            {
                traceId = activity.TraceId.ToHexString();
#pragma warning disable CA1848, CA2254 // a plain call is what is being tested
                logger.LogWarning("Image {Key} is corrupt", "img-7");
#pragma warning restore CA1848, CA2254
            }
        }

        var logs = _store.QueryLogs(new LogQuery(Service: "scoring"));
        var log = logs.Should().ContainSingle().Subject;
        log.Severity.Should().Be("Warning");
        log.SeverityNumber.Should().Be(13);
        log.Message.Should().Be("Image img-7 is corrupt");
        log.Category.Should().Be("SynthVlm.Scoring.PairScorer");
        log.Instance.Should().Be("scoring-1");
        log.TraceId.Should().Be(traceId);
        log.Attributes.Should().Contain(new TelemetryAttribute("Key", "img-7"));
        _store.QueryLogs(new LogQuery(MinSeverityNumber: 17)).Should().BeEmpty();
        _store.QueryLogs(new LogQuery(Text: "CORRUPT")).Should().HaveCount(1);
        _store.QueryLogs(new LogQuery(AfterSequence: log.Sequence)).Should().BeEmpty();
    }

    [Fact]
    public void Counters_and_histograms_arrive_cumulative_with_their_buckets()
    {
        var meterName = "test.metrics." + Guid.NewGuid().ToString("N");
        using var meter = new Meter(meterName);
        var counter = meter.CreateCounter<long>("synthvlm.stream.acked", "{entry}", "acked");
        var histogram = meter.CreateHistogram<double>("synthvlm.stream.handle.duration", "s", "handle time");
        using var provider = Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateEmpty().AddService("selection", serviceInstanceId: "selection-0"))
            .AddMeter(meterName)
            .AddOtlpExporter((o, reader) =>
            {
                Configure(o, "v1/metrics");
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 3_600_000;
            })
            .Build()!;
        counter.Add(5, new KeyValuePair<string, object?>("stream", "synthvlm:scored"));
        histogram.Record(0.003);
        histogram.Record(0.3);
        histogram.Record(7);
        provider.ForceFlush().Should().BeTrue();
        counter.Add(2, new KeyValuePair<string, object?>("stream", "synthvlm:scored"));
        provider.ForceFlush().Should().BeTrue();

        var sums = _store.ListMetrics("selection", "synthvlm.stream.acked");
        var sum = sums.Should().ContainSingle().Subject;
        sum.Key.Attributes.Should().Be("stream=synthvlm:scored");
        sum.Key.Instance.Should().Be("selection-0");
        sum.Kind.Should().Be(MetricKind.Sum);
        sum.Monotonic.Should().BeTrue();
        sum.Cumulative.Should().BeTrue();
        sum.Unit.Should().Be("{entry}");
        sum.Points.Select(p => p.Value).Should().Equal(5, 7);

        var hist = _store.ListMetrics("selection", "synthvlm.stream.handle.duration").Should().ContainSingle().Subject;
        hist.Kind.Should().Be(MetricKind.Histogram);
        var point = hist.Points[^1];
        point.Count.Should().Be(3);
        point.Value.Should().BeApproximately(7.303, 1e-9);
        point.BucketCounts!.Sum().Should().Be(3);
        point.Bounds!.Count.Should().Be(point.BucketCounts!.Count - 1);
        _store.Services.Should().Contain("selection");
    }

    [Fact]
    public async Task A_wrong_key_is_refused_and_nothing_is_stored()
    {
        var sourceName = "test.key." + Guid.NewGuid().ToString("N");
        using var source = new ActivitySource(sourceName);
        using (var tracer = Tracer("intruder", sourceName, key: "wrong"))
        {
            source.StartActivity("sneaky")!.Stop();
            tracer.ForceFlush();
        }
        _store.Services.Should().NotContain("intruder");

        using var http = new HttpClient();
        var response = await http.PostAsync(new Uri(_endpoint, "v1/traces"), Protobuf(new ExportTraceServiceRequest()));
        response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await response.Content.ReadAsStringAsync()).Should().Contain(OtlpHttpEndpoints.ApiKeyHeader);
    }

    [Fact]
    public async Task Json_garbage_and_oversized_bodies_get_their_status_codes_and_gzip_is_read()
    {
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add(OtlpHttpEndpoints.ApiKeyHeader, Key);

        var json = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
        (await http.PostAsync(new Uri(_endpoint, "v1/logs"), json)).StatusCode.Should().Be(HttpStatusCode.UnsupportedMediaType);

        var garbage = new ByteArrayContent([0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01]);
        garbage.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        var bad = await http.PostAsync(new Uri(_endpoint, "v1/traces"), garbage);
        bad.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await bad.Content.ReadAsStringAsync()).Should().Contain("ExportTraceServiceRequest");

        var big = new ByteArrayContent(new byte[(1 << 20) + 1]);
        big.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        (await http.PostAsync(new Uri(_endpoint, "v1/traces"), big)).StatusCode.Should().Be(HttpStatusCode.RequestEntityTooLarge);

        var request = new ExportTraceServiceRequest();
        var resource = new Otlp.Resource();
        resource.Attributes.Add(new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = "gzipped" } });
        var scope = new ScopeSpans();
        scope.Spans.Add(new Span
        {
            TraceId = ByteString.CopyFrom(Enumerable.Range(1, 16).Select(i => (byte)i).ToArray()),
            SpanId = ByteString.CopyFrom(Enumerable.Range(1, 8).Select(i => (byte)i).ToArray()),
            Name = "zipped",
            StartTimeUnixNano = 1_000_000_000,
            EndTimeUnixNano = 3_000_000_000,
        });
        scope.Spans.Add(new Span { TraceId = ByteString.CopyFrom(1, 2, 3), SpanId = ByteString.CopyFrom(1), Name = "bad ids" });
        request.ResourceSpans.Add(new ResourceSpans { Resource = resource, ScopeSpans = { scope } });
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            request.WriteTo(gzip);
        }
        var zipped = new ByteArrayContent(compressed.ToArray());
        zipped.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        zipped.Headers.ContentEncoding.Add("gzip");
        (await http.PostAsync(new Uri(_endpoint, "v1/traces"), zipped)).StatusCode.Should().Be(HttpStatusCode.OK);

        var trace = _store.GetTrace("0102030405060708090a0b0c0d0e0f10");
        trace!.Spans.Should().ContainSingle().Which.Span.Duration.Should().Be(TimeSpan.FromSeconds(2));
        trace.Summary.RootService.Should().Be("gzipped");
    }

    private static ByteArrayContent Protobuf(IMessage message)
    {
        var content = new ByteArrayContent(message.ToByteArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        return content;
    }
}
