using System.Threading.Channels;
using SynthVlm.ChatEndpoints;
using SynthVlm.Vlm.Images;
using SynthVlm.Vlm.Prompts;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Generation;

/// <summary>
/// The in-process LLaVA as an <see cref="IChatModel"/>, the way LLaVA's evaluation scripts ask it:
/// the vicuna_v1 conversation (its system text unless the request has a system message), the image
/// as "&lt;image&gt;\n" before the first user turn's text, earlier user/assistant turns as few-shot
/// examples, images preprocessed with the model's aspect mode (LLaVA-1.5: pad), greedy unless a
/// temperature is given (then with the request's top-p).
/// </summary>
/// <remarks>
/// Requests made concurrently are answered in batches: one thread owns the model and takes up to
/// <see cref="MaxBatchSize"/> waiting requests with the same generation settings at a time, so a
/// caller that keeps several requests in flight gets batched generation (left-padded, with a KV
/// cache) without doing anything else. A request the model cannot take (two images, too long)
/// fails alone with <see cref="ChatModelException"/>. Option scoring (<see cref="ScoreOptionsAsync"/>) is
/// batched the same way, apart from generation.
/// </remarks>
public sealed class LlavaChatModel : IOptionScoringModel, IDisposable
{
    private readonly LlavaPipeline pipeline;
    private readonly bool ownsPipeline;
    private readonly ImageAspectMode aspect;
    private readonly Channel<Pending> queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread worker;
    private readonly CancellationTokenSource stopping = new();
    private Pending? carried;

    // Scoring requests share these options, so they batch with each other and never with generation.
    private static readonly GenerationOptions ScoringOptions = new(MaxNewTokens: 1, Seed: -1);

    /// <summary>Serves <paramref name="pipeline"/>.</summary>
    /// <param name="pipeline">The model.</param>
    /// <param name="modelName">The name answers and caches record (default: the model folder's name).</param>
    /// <param name="maxBatchSize">Most requests generated together (1 = one by one).</param>
    /// <param name="aspect">Image preprocessing; null = the model's default (pad for LLaVA-1.5).</param>
    /// <param name="ownsPipeline">Whether disposing this disposes the pipeline.</param>
    public LlavaChatModel(LlavaPipeline pipeline, string? modelName = null, int maxBatchSize = 8, ImageAspectMode? aspect = null, bool ownsPipeline = false)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatchSize, 1);
        this.pipeline = pipeline;
        this.ownsPipeline = ownsPipeline;
        this.aspect = aspect ?? pipeline.Images.DefaultMode;
        MaxBatchSize = maxBatchSize;
        ModelName = modelName ?? Path.GetFileName(pipeline.Folder.Directory.TrimEnd(Path.DirectorySeparatorChar));
        worker = new Thread(Work) { IsBackground = true, Name = "llava chat model" };
        worker.Start();
    }

    /// <inheritdoc />
    public string ModelName { get; }

    /// <summary>Most requests generated together.</summary>
    public int MaxBatchSize { get; }

    /// <summary>Batches generated so far (for benchmarks and tests of batching).</summary>
    public int Batches { get; private set; }

    /// <inheritdoc />
    public Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (ids, image) = Encode(request);
        var options = new GenerationOptions(request.MaxTokens, request.Temperature, request.TopP, Seed: request.Seed ?? 0, EosTokenId: pipeline.Tokenizer.EosId);
        options.Validate();
        var pending = new Pending(ids, image, options, cancellationToken);
        if (!queue.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(LlavaChatModel));
        }
        return pending.Reply.Task;
    }

    /// <summary>
    /// The logits of each option's first token as the reply's first token: the prompt is the one
    /// <see cref="CompleteAsync"/> would generate from, and the logits are those of its first generation step
    /// (what MMLU's official evaluation compares: <c>logits[tokenizer("A").input_ids[0]]</c> and so on).
    /// An option's token is the first piece of the option encoded on its own without BOS (SentencePiece's
    /// dummy prefix makes "A" the piece "▁A", which is how the reply's first word is tokenized; a lone "▁"
    /// piece is passed over).
    /// </summary>
    /// <exception cref="ArgumentException">No options, an option that encodes to no token, or two options whose token is the same.</exception>
    /// <exception cref="ChatModelException">The request cannot be taken (two images, too long, an unreadable image).</exception>
    public Task<IReadOnlyList<double>> ScoreOptionsAsync(ChatRequest request, IReadOnlyList<string> options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Count == 0)
        {
            throw new ArgumentException("option scoring needs at least one option.", nameof(options));
        }
        var tokens = new int[options.Count];
        for (var i = 0; i < options.Count; i++)
        {
            tokens[i] = OptionToken(options[i]) ?? throw new ArgumentException($"option {i} ('{options[i]}') encodes to no token.", nameof(options));
            if (Array.IndexOf(tokens, tokens[i], 0, i) is var same and >= 0)
            {
                throw new ArgumentException($"options {same} ('{options[same]}') and {i} ('{options[i]}') start with the same token ({pipeline.Tokenizer.IdToToken(tokens[i])}); their scores could not differ.", nameof(options));
            }
        }
        var (prompt, image) = Encode(request);
        var pending = new Pending(prompt, image, ScoringOptions, cancellationToken) { ScoreTokens = tokens };
        if (!queue.Writer.TryWrite(pending))
        {
            throw new ObjectDisposedException(nameof(LlavaChatModel));
        }
        return pending.Scores.Task;
    }

    /// <summary>
    /// The token an option's score is read at: the first piece of the option encoded without BOS, passing over a
    /// lone "▁" (a vocabulary without "▁A" spells the word as "▁" + "A"; the first piece would then be the same for
    /// every option).
    /// </summary>
    private int? OptionToken(string option)
    {
        var ids = pipeline.Tokenizer.Encode(option, addSpecialTokens: false);
        foreach (var id in ids)
        {
            if (pipeline.Tokenizer.IdToToken(id) != "\u2581")
            {
                return id;
            }
        }
        return null;
    }

    /// <summary>Stops the worker (waiting requests fail) and frees the pipeline if owned.</summary>
    public void Dispose()
    {
        queue.Writer.TryComplete();
        stopping.Cancel();
        worker.Join();
        stopping.Dispose();
        if (ownsPipeline)
        {
            pipeline.Dispose();
        }
    }

    /// <summary>The prompt ids of the request (vicuna_v1, image first in the first user turn) and its image.</summary>
    private (int[] Ids, string? Image) Encode(ChatRequest request)
    {
        var messages = request.Messages ?? throw new ArgumentException("the request has no messages.", nameof(request));
        var template = ConversationTemplate.VicunaV1;
        var system = messages.Where(m => m.Role == "system").Select(m => m.Text).LastOrDefault();
        var turns = messages.Where(m => m.Role != "system").ToList();
        if (turns.Count == 0 || turns[^1].Role != "user")
        {
            throw new ChatModelException($"{ModelName}: a request must end with a user message.");
        }
        var images = turns.SelectMany(t => t.ImagePaths ?? []).ToList();
        if (images.Count > 1)
        {
            throw new ChatModelException($"{ModelName}: LLaVA-1.5 takes one image per prompt; the request has {images.Count}.");
        }
        var roles = new List<(string Role, string? Message)>(turns.Count + 1);
        var imagePlaced = images.Count == 0;
        for (var i = 0; i < turns.Count; i++)
        {
            var turn = turns[i];
            var expected = i % 2 == 0 ? "user" : "assistant";
            if (turn.Role != expected)
            {
                throw new ChatModelException($"{ModelName}: message {i} is from '{turn.Role}'; user and assistant turns must alternate, starting with the user.");
            }
            var text = turn.Text;
            if (text.Contains(LlavaTokens.ImageToken, StringComparison.Ordinal))
            {
                throw new ChatModelException($"{ModelName}: message {i} contains {LlavaTokens.ImageToken}; images go in ImagePaths.");
            }
            if (!imagePlaced && turn.ImagePaths is { Count: > 0 })
            {
                text = LlavaTokens.ImageToken + "\n" + text;
                imagePlaced = true;
            }
            roles.Add((turn.Role == "user" ? template.UserRole : template.AssistantRole, text));
        }
        roles.Add((template.AssistantRole, null));
        var prompt = (template with { System = system ?? template.System }).GetPrompt(roles);
        return (pipeline.Prompts.TokenizeWithImage(prompt, pipeline.Model.Config.ImageTokenIndex), images.Count == 1 ? images[0] : null);
    }

    private void Work()
    {
        var generator = new LlavaGenerator(pipeline.Model, ids => pipeline.Tokenizer.Decode(ids));
        while (Next() is { Count: > 0 } batch)
        {
            Generate(generator, batch);
        }
        // Stopped: whatever is left fails.
        carried?.Fail(new ObjectDisposedException(nameof(LlavaChatModel)));
        while (queue.Reader.TryRead(out var left))
        {
            left.Fail(new ObjectDisposedException(nameof(LlavaChatModel)));
        }
    }

    /// <summary>The next batch: the first waiting request and the others waiting now with the same settings.</summary>
    private List<Pending>? Next()
    {
        var first = carried;
        carried = null;
        try
        {
            if (first is null)
            {
                if (!queue.Reader.WaitToReadAsync(stopping.Token).AsTask().GetAwaiter().GetResult() || !queue.Reader.TryRead(out first))
                {
                    return null;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        var batch = new List<Pending> { first };
        while (batch.Count < MaxBatchSize && queue.Reader.TryRead(out var next))
        {
            if (next.Options != first.Options || !SameTokens(next.ScoreTokens, first.ScoreTokens))
            {
                // Another setting goes first in the next batch.
                carried = next;
                break;
            }
            batch.Add(next);
        }
        return batch;
    }

    private void Generate(LlavaGenerator generator, List<Pending> batch)
    {
        var live = batch.Where(p => !p.Cancellation.IsCancellationRequested).ToList();
        foreach (var cancelled in batch.Except(live))
        {
            cancelled.Cancel();
        }
        if (live.Count == 0)
        {
            return;
        }
        using var scope = NewDisposeScope();
        var requests = new List<GenerationRequest>(live.Count);
        var ready = new List<Pending>(live.Count);
        foreach (var pending in live)
        {
            try
            {
                var pixels = pending.Image is null
                    ? null
                    : tensor(pipeline.Images.Preprocess(pending.Image, aspect), [3, pipeline.Images.Height, pipeline.Images.Width]).to(pipeline.Model.Device);
                requests.Add(new GenerationRequest(pending.Ids, pixels));
                ready.Add(pending);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or Imaging.ImagingException)
            {
                pending.Fail(new ChatModelException($"{ModelName}: image {pending.Image}: {e.Message}", e));
            }
        }
        if (ready.Count == 0)
        {
            return;
        }
        if (ready[0].ScoreTokens is { } scoreTokens)
        {
            Score(generator, requests, ready, scoreTokens);
            return;
        }
        IReadOnlyList<GenerationResult> results;
        try
        {
            results = generator.Generate(requests, ready[0].Options, stopping.Token);
            Batches++;
        }
#pragma warning disable CA1031 // The batch's callers get the failure; the worker serves the next batch.
        catch (Exception e)
#pragma warning restore CA1031
        {
            foreach (var pending in ready)
            {
                pending.Fail(e is OperationCanceledException ? new ObjectDisposedException(nameof(LlavaChatModel)) : new ChatModelException($"{ModelName}: generation failed: {e.Message}", e));
            }
            return;
        }
        for (var i = 0; i < ready.Count; i++)
        {
            var result = results[i];
            if (result.Error is { } error)
            {
                ready[i].Reply.TrySetException(new ChatModelException($"{ModelName}: {error}"));
            }
            else
            {
                ready[i].Reply.TrySetResult(new ChatReply((result.Text ?? pipeline.Tokenizer.Decode(result.Ids)).Trim()));
            }
        }
    }

    private void Score(LlavaGenerator generator, List<GenerationRequest> requests, List<Pending> ready, int[] tokens)
    {
        IReadOnlyList<double[]?> scores;
        IReadOnlyList<string?> problems;
        try
        {
            scores = generator.NextTokenLogits(requests, tokens, out problems, stopping.Token);
            Batches++;
        }
#pragma warning disable CA1031 // The batch's callers get the failure; the worker serves the next batch.
        catch (Exception e)
#pragma warning restore CA1031
        {
            foreach (var pending in ready)
            {
                pending.Fail(e is OperationCanceledException ? new ObjectDisposedException(nameof(LlavaChatModel)) : new ChatModelException($"{ModelName}: scoring failed: {e.Message}", e));
            }
            return;
        }
        for (var i = 0; i < ready.Count; i++)
        {
            if (scores[i] is { } values)
            {
                ready[i].Scores.TrySetResult(values);
            }
            else
            {
                ready[i].Fail(new ChatModelException($"{ModelName}: {problems[i]}"));
            }
        }
    }

    private static bool SameTokens(int[]? a, int[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);

    private sealed record Pending(int[] Ids, string? Image, GenerationOptions Options, CancellationToken Cancellation)
    {
        /// <summary>The option tokens to score, or null for a generation request.</summary>
        public int[]? ScoreTokens { get; init; }

        public TaskCompletionSource<ChatReply> Reply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<IReadOnlyList<double>> Scores { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Fail(Exception exception)
        {
            if (ScoreTokens is null)
            {
                Reply.TrySetException(exception);
            }
            else
            {
                Scores.TrySetException(exception);
            }
        }

        public void Cancel()
        {
            if (ScoreTokens is null)
            {
                Reply.TrySetCanceled(Cancellation);
            }
            else
            {
                Scores.TrySetCanceled(Cancellation);
            }
        }
    }
}
