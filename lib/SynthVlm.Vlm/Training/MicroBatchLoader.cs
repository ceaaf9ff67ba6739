using SynthVlm.Vlm.Images;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Prompts;

namespace SynthVlm.Vlm.Training;

/// <summary>A micro-batch ready for the model: encoded sequences and their images' pixels (CPU).</summary>
/// <param name="Sequences">Ids and labels, the image as one marker.</param>
/// <param name="Pixels">The images of the sequences that have one, [images, 3, S, S] flattened; null when none has.</param>
/// <param name="ImageCount">Images in <paramref name="Pixels"/>.</param>
/// <param name="Skipped">Samples passed over while filling it, each with its reason.</param>
/// <param name="Epoch">Epoch of the data position after this micro-batch.</param>
/// <param name="Cursor">Position in that epoch's order after this micro-batch.</param>
/// <param name="WithoutAnswer">Samples passed over because truncation to the context leaves no answer token.</param>
internal sealed record PreparedMicroBatch(List<LlavaSequence> Sequences, float[]? Pixels, int ImageCount, List<string> Skipped, int Epoch, int Cursor, List<CutSample> WithoutAnswer);

/// <summary>A sample whose answer the context cuts entirely: its id, its data file, and the numbers.</summary>
/// <param name="Id">The sample id.</param>
/// <param name="Source">The data file.</param>
/// <param name="Fit">Prompt, sequence and context lengths.</param>
internal sealed record CutSample(string Id, string Source, AnswerFit Fit);

/// <summary>
/// Reads, encodes and preprocesses micro-batches in the training order on worker threads, one
/// micro-batch ahead of the model (so host memory holds at most two micro-batches of images). A
/// sample whose template refuses it or whose image is missing or corrupt is skipped with a record
/// and the next one is taken; so is a sample with no answer token left after truncation to the
/// model's context (<see cref="AnswerFit"/>; it would add nothing to the loss), returned apart so
/// that the trainer counts it; a micro-batch never spans two epochs.
/// </summary>
internal sealed class MicroBatchLoader : IDisposable
{
    private readonly LlavaPipeline pipeline;
    private readonly IReadOnlyList<LlavaDataIndex> sources;
    private readonly IReadOnlyList<double> weights;
    private readonly TrainingSettings settings;
    private readonly ConversationTemplate template;
    private readonly ImageAspectMode aspect;
    private readonly Dictionary<int, SampleRef[]> orders = [];
    private Task<PreparedMicroBatch?>? ahead;

    public MicroBatchLoader(LlavaPipeline pipeline, IReadOnlyList<LlavaDataIndex> sources, IReadOnlyList<double> weights, TrainingSettings settings, ConversationTemplate template, ImageAspectMode aspect, int epoch, int cursor)
    {
        this.pipeline = pipeline;
        this.sources = sources;
        this.weights = weights;
        this.settings = settings;
        this.template = template;
        this.aspect = aspect;
        Epoch = epoch;
        Cursor = cursor;
    }

    /// <summary>Epoch of the position after the last micro-batch handed out.</summary>
    public int Epoch { get; private set; }

    /// <summary>Position in the epoch's order after the last micro-batch handed out.</summary>
    public int Cursor { get; private set; }

    /// <summary>The next micro-batch, or null when every epoch is done.</summary>
    public PreparedMicroBatch? Next()
    {
        var batch = ahead is null ? Prepare(Epoch, Cursor) : ahead.GetAwaiter().GetResult();
        ahead = null;
        if (batch is null)
        {
            return null;
        }
        Epoch = batch.Epoch;
        Cursor = batch.Cursor;
        var (epoch, cursor) = (Epoch, Cursor);
        ahead = Task.Run(() => Prepare(epoch, cursor));
        return batch;
    }

    private SampleRef[] Order(int epoch)
    {
        lock (orders)
        {
            if (!orders.TryGetValue(epoch, out var order))
            {
                orders.Clear();
                order = TrainingOrder.ForEpoch(sources, weights, settings.Seed, epoch, settings.GroupByModalityLength, settings.MicroBatchSize);
                orders[epoch] = order;
            }
            return order;
        }
    }

    private PreparedMicroBatch? Prepare(int epoch, int cursor)
    {
        var order = Order(epoch);
        if (cursor >= order.Length)
        {
            epoch++;
            cursor = 0;
            if (epoch >= settings.Epochs)
            {
                return null;
            }
            order = Order(epoch);
        }
        var sequences = new List<LlavaSequence>();
        var pixels = new List<float[]>();
        var skipped = new List<string>();
        var withoutAnswer = new List<CutSample>();
        while (sequences.Count < settings.MicroBatchSize && cursor < order.Length)
        {
            var take = Math.Min(settings.MicroBatchSize - sequences.Count, order.Length - cursor);
            var refs = order.AsSpan(cursor, take).ToArray();
            cursor += take;
            var results = new (LlavaSequence? Sequence, float[]? Pixels, string? Skip, CutSample? Cut)[refs.Length];
            Parallel.For(0, refs.Length, new ParallelOptions { MaxDegreeOfParallelism = settings.DataWorkers }, i => results[i] = PrepareOne(refs[i]));
            foreach (var (sequence, image, skip, cut) in results)
            {
                if (cut is not null)
                {
                    withoutAnswer.Add(cut);
                    continue;
                }
                if (skip is not null)
                {
                    skipped.Add(skip);
                    continue;
                }
                sequences.Add(sequence!);
                if (image is not null)
                {
                    pixels.Add(image);
                }
            }
        }
        var flat = pixels.Count == 0 ? null : pixels.SelectMany(p => p).ToArray();
        return new PreparedMicroBatch(sequences, flat, pixels.Count, skipped, epoch, cursor, withoutAnswer);
    }

    private (LlavaSequence? Sequence, float[]? Pixels, string? Skip, CutSample? Cut) PrepareOne(SampleRef reference)
    {
        var source = sources[reference.Source];
        LlavaConversation sample;
        try
        {
            sample = source.Read(reference.Index);
        }
        catch (InvalidDataException e)
        {
            return (null, null, e.Message, null);
        }
        var prepared = pipeline.Prompts.Encode(sample, template);
        if (prepared.IsRejected)
        {
            return (null, null, $"{source.Path}: {prepared.Rejection}", null);
        }
        var fit = AnswerFit.Measure(prepared.InputIds, prepared.Labels, pipeline.Model.Config);
        if (!fit.HasAnswer)
        {
            // Checked before the image is read: a cut sample costs no decode.
            return (null, null, null, new CutSample(prepared.Id, source.Path, fit));
        }
        float[]? pixels = null;
        if (prepared.HasImage)
        {
            var path = Path.Combine(source.ImageFolder, sample.Image!);
            try
            {
                pixels = pipeline.Images.Preprocess(path, aspect);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or Imaging.ImagingException)
            {
                return (null, null, $"{source.Path}: sample '{sample.Id}': image {path}: {e.Message}", null);
            }
        }
        return (new LlavaSequence(prepared.InputIds, prepared.Labels), pixels, null, null);
    }

    public void Dispose()
    {
        // Let a prefetch in flight finish; its result is dropped.
        try
        {
            ahead?.Wait();
        }
        catch (AggregateException)
        {
        }
    }
}
