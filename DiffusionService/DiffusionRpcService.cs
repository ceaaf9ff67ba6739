using System.Threading.Channels;
using Google.Protobuf;
using SynthVlm.Diffusion;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Protos.V1;
using Grpc.Core;

namespace SynthVlm.DiffusionService;

/// <summary>The Diffusion gRPC service: one image per call, optionally with per-step progress.</summary>
public sealed class DiffusionRpcService(ImageGenerator generator) : Protos.V1.Diffusion.DiffusionBase
{
    /// <summary>Generates one image.</summary>
    public override async Task<GenerateResult> Generate(GenerateRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        return await RunAsync(request, null, context.CancellationToken).ConfigureAwait(false);
    }

    /// <summary>Streams a progress event per denoising step, then the result.</summary>
    public override async Task GenerateStream(GenerateRequest request, IServerStreamWriter<GenerateEvent> responses, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(responses);
        ArgumentNullException.ThrowIfNull(context);
        var ct = context.CancellationToken;
        // Steps are reported from the generating thread; the call's writer drains them in order.
        var steps = Channel.CreateUnbounded<GenerateEvent>(new UnboundedChannelOptions { SingleReader = true });
        var run = RunAsync(request, s => steps.Writer.TryWrite(new GenerateEvent
        {
            Progress = new GenerateProgress { Stage = s.Stage, Step = s.Step, Total = s.Total, Timestep = s.Timestep },
        }), ct);
        _ = run.ContinueWith(_ => steps.Writer.TryComplete(), TaskScheduler.Default);
        await foreach (var e in steps.Reader.ReadAllAsync(ct).ConfigureAwait(false))
        {
            await responses.WriteAsync(e, ct).ConfigureAwait(false);
        }
        await responses.WriteAsync(new GenerateEvent { Result = await run.ConfigureAwait(false) }, ct).ConfigureAwait(false);
    }

    private async Task<GenerateResult> RunAsync(GenerateRequest request, Action<DiffusionStep>? onStep, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.Prompt))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "prompt is empty."));
        }
        ImageFormat format;
        try
        {
            format = request.Format.ToUpperInvariant() switch
            {
                "" or "PNG" => ImageFormat.Png,
                "JPEG" or "JPG" => ImageFormat.Jpeg,
                "WEBP" => ImageFormat.WebP,
                _ => throw new ArgumentException($"format '{request.Format}' is not PNG, JPEG or WEBP."),
            };
        }
        catch (ArgumentException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        GenerationSettings settings;
        try
        {
            settings = generator.Resolve(request.Spec);
        }
        catch (ArgumentException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        var (result, timings) = (await generator.GenerateAsync([request.Prompt], [request.Seed], settings, onStep, ct).ConfigureAwait(false))[0];
        if (result.Image is null)
        {
            throw new RpcException(new Status(StatusCode.Aborted, result.Error ?? "generation failed"));
        }
        using var image = result.Image;
        var bytes = await Task.Run(() => ImageCodec.Encode(image, format), ct).ConfigureAwait(false);
        return new GenerateResult
        {
            Image = ByteString.CopyFrom(bytes),
            Format = format.ToString().ToUpperInvariant(),
            Seed = result.Seed,
            Width = image.Width,
            Height = image.Height,
            PromptTruncated = result.PromptTruncated,
            BaseSteps = timings.BaseSteps,
            RefinerSteps = timings.RefinerSteps,
            GenerateMs = timings.TotalMs,
            InferenceMs = timings.InsideOnnxRuntimeMs,
            Model = generator.ModelId,
        };
    }
}
