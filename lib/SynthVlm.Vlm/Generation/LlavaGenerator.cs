using SynthVlm.Vlm.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Generation;

/// <summary>How to generate.</summary>
/// <param name="MaxNewTokens">Tokens generated at most per prompt.</param>
/// <param name="Temperature">0 for greedy decoding; above 0, sampling from softmax(logits / temperature).</param>
/// <param name="TopP">Nucleus sampling: only the most likely tokens whose probabilities add up to this are kept (1 = all).</param>
/// <param name="Seed">Seed of the sampling generator (sampling only); the same seed and batch give the same tokens.</param>
/// <param name="StopStrings">Generation of a prompt stops once its decoded text contains one of these; the text ends before it.</param>
/// <param name="EosTokenId">The end-of-sequence id (LLaMA's &lt;/s&gt; = 2); generation of a prompt stops after it.</param>
public sealed record GenerationOptions(
    int MaxNewTokens = 128,
    double Temperature = 0,
    double TopP = 1.0,
    long Seed = 0,
    IReadOnlyList<string>? StopStrings = null,
    int EosTokenId = 2)
{
    /// <summary>Checks the values; throws naming the option.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "max new tokens must be at least 1.");
        }
        if (Temperature < 0 || double.IsNaN(Temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "temperature must be 0 (greedy) or positive.");
        }
        if (TopP is <= 0 or > 1 || double.IsNaN(TopP))
        {
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "top-p must be in (0, 1].");
        }
    }
}

/// <summary>One prompt: token ids with at most one image marker and that image's pixel values [3, S, S].</summary>
/// <param name="PromptIds">The prompt (BOS first; the image as one marker id).</param>
/// <param name="PixelValues">The preprocessed image for the marker, or null for a text-only prompt.</param>
public sealed record GenerationRequest(int[] PromptIds, Tensor? PixelValues);

/// <summary>Why generation of a prompt ended.</summary>
public enum FinishReason
{
    /// <summary>The end-of-sequence token was generated.</summary>
    EndOfSequence,

    /// <summary>A stop string appeared in the text.</summary>
    StopString,

    /// <summary>The max new tokens were reached.</summary>
    Length,

    /// <summary>The request was refused before generation (see <see cref="GenerationResult.Error"/>).</summary>
    Refused,
}

/// <summary>What was generated for one prompt.</summary>
/// <param name="Ids">Generated ids, the end-of-sequence token or the token that completed a stop string included.</param>
/// <param name="Text">The decoded text (special tokens skipped), cut before a stop string; null without a decoder.</param>
/// <param name="Finish">Why it ended.</param>
/// <param name="Error">Why the request was refused (<see cref="FinishReason.Refused"/>), naming it; null otherwise.</param>
public sealed record GenerationResult(int[] Ids, string? Text, FinishReason Finish, string? Error = null);

/// <summary>
/// Batched generation with a KV cache: prompts are left-padded and run once (prefill), then one
/// token per step for every unfinished prompt. Greedy decoding is deterministic and equal batched
/// or one by one; sampling draws from a generator seeded by <see cref="GenerationOptions.Seed"/>.
/// Every step runs in its own dispose scope and the cache frees itself, so memory does not grow
/// with the steps and a cancelled call leaves nothing behind.
/// </summary>
public sealed class LlavaGenerator
{
    private readonly LlavaModel model;
    private readonly Func<IReadOnlyList<int>, string>? decode;

    /// <summary>Creates a generator over <paramref name="model"/>; <paramref name="decode"/> turns ids into text (needed for stop strings).</summary>
    public LlavaGenerator(LlavaModel model, Func<IReadOnlyList<int>, string>? decode = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        this.model = model;
        this.decode = decode;
    }

    /// <summary>
    /// Generates for every request (one batch). A request the model cannot take (empty, two
    /// images, an image marker without an image, longer than the context) gets a result with
    /// <see cref="GenerationResult.Error"/> naming it; the others are generated as if it were absent.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; nothing is kept.</exception>
    public IReadOnlyList<GenerationResult> Generate(IReadOnlyList<GenerationRequest> requests, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.StopStrings is { Count: > 0 } && decode is null)
        {
            throw new ArgumentException("stop strings need a decoder (pass one to the LlavaGenerator constructor).", nameof(options));
        }
        var results = new GenerationResult[requests.Count];
        var accepted = new List<int>(requests.Count);
        for (var i = 0; i < requests.Count; i++)
        {
            if (Problem(requests[i], i) is { } problem)
            {
                results[i] = new GenerationResult([], null, FinishReason.Refused, problem);
            }
            else
            {
                accepted.Add(i);
            }
        }
        if (accepted.Count > 0)
        {
            var generated = Run([.. accepted.Select(i => requests[i])], options, cancellationToken);
            for (var k = 0; k < accepted.Count; k++)
            {
                results[accepted[k]] = generated[k];
            }
        }
        return results;
    }

    /// <summary>
    /// The first generation step's logits of every request at <paramref name="tokenIds"/>: what the official MMLU
    /// evaluation compares (the next-token logits of "A".."D" after the prompt). Prompts are prefilled together,
    /// left-padded, exactly as <see cref="Generate"/> starts; a request the model cannot take gets null in its place
    /// and its problem in <paramref name="problems"/> (same rules as <see cref="Generate"/>).
    /// </summary>
    /// <param name="requests">The prompts.</param>
    /// <param name="tokenIds">The vocabulary ids to read.</param>
    /// <param name="problems">Receives, per request, why it was refused (null when it was scored).</param>
    /// <param name="cancellationToken">Cancels before the forward pass.</param>
    /// <returns>Per request, the logits at <paramref name="tokenIds"/> in order (float32 widened), or null when refused.</returns>
    public IReadOnlyList<double[]?> NextTokenLogits(IReadOnlyList<GenerationRequest> requests, IReadOnlyList<int> tokenIds, out IReadOnlyList<string?> problems, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(tokenIds);
        if (tokenIds.FirstOrDefault(id => id < 0 || id >= model.Config.Text.VocabSize, -1) is var outside && outside != -1)
        {
            throw new ArgumentOutOfRangeException(nameof(tokenIds), outside, $"token id {outside} is outside the vocabulary of {model.Config.Text.VocabSize}.");
        }
        var scores = new double[]?[requests.Count];
        var refused = new string?[requests.Count];
        var accepted = new List<int>(requests.Count);
        for (var i = 0; i < requests.Count; i++)
        {
            if ((refused[i] = Problem(requests[i], i)) is null)
            {
                accepted.Add(i);
            }
        }
        problems = refused;
        if (accepted.Count == 0)
        {
            return scores;
        }
        cancellationToken.ThrowIfCancellationRequested();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var pixels = accepted.Select(i => requests[i].PixelValues).Where(p => p is not null).Select(p => p!.to(model.Device)).ToList();
        using var pixelBatch = pixels.Count > 0 ? stack(pixels, 0) : null;
        using var batch = model.PrepareBatch([.. accepted.Select(i => new LlavaSequence(requests[i].PromptIds))], pixelBatch, PaddingSide.Left);
        using var cache = new KeyValueCache(model.LanguageModel.Layers.Count);
        var logits = LastLogits(batch.InputsEmbeds, batch.AttentionMask, batch.PositionIds, cache);
        var picked = logits.index_select(1, tensor(tokenIds.Select(id => (long)id).ToArray(), device: logits.device)).to(ScalarType.Float64).cpu();
        var values = picked.data<double>().ToArray();
        for (var k = 0; k < accepted.Count; k++)
        {
            scores[accepted[k]] = values.AsSpan(k * tokenIds.Count, tokenIds.Count).ToArray();
        }
        return scores;
    }

    private string? Problem(GenerationRequest request, int index)
    {
        var config = model.Config;
        var ids = request.PromptIds;
        if (ids.Length == 0)
        {
            return $"Prompt {index} is empty.";
        }
        var images = ids.Count(id => config.IsImageToken(id));
        if (images > 1)
        {
            return $"Prompt {index} holds {images} image markers; one image per prompt is supported.";
        }
        if ((images == 1) != (request.PixelValues is not null))
        {
            return $"Prompt {index} has {images} image marker(s) but {(request.PixelValues is null ? "no" : "an")} image.";
        }
        if (ids.FirstOrDefault(id => !config.IsImageToken(id) && (id < 0 || id >= config.Text.VocabSize)) is var bad && bad != 0)
        {
            return $"Prompt {index} holds token id {bad}, outside the vocabulary of {config.Text.VocabSize}.";
        }
        var length = ids.Length + (images * (config.ImageTokenCount - 1));
        if (length >= config.ModelMaxLength)
        {
            return $"Prompt {index} is {length} positions with the image spliced in; the model's context is {config.ModelMaxLength}, which leaves no room to generate.";
        }
        return null;
    }

    private GenerationResult[] Run(IReadOnlyList<GenerationRequest> requests, GenerationOptions options, CancellationToken cancellationToken)
    {
        var config = model.Config;
        using var noGrad = no_grad();
        using var outer = NewDisposeScope();
        var generator = options.Temperature > 0 ? new Generator((ulong)options.Seed, model.Device) : null;
        var pixels = requests.Where(r => r.PixelValues is not null).Select(r => r.PixelValues!.to(model.Device)).ToList();
        using var pixelBatch = pixels.Count > 0 ? stack(pixels, 0) : null;
        using var batch = model.PrepareBatch([.. requests.Select(r => new LlavaSequence(r.PromptIds))], pixelBatch, PaddingSide.Left);
        using var cache = new KeyValueCache(model.LanguageModel.Layers.Count);

        var count = requests.Count;
        var generated = Enumerable.Range(0, count).Select(_ => new List<int>()).ToArray();
        var finish = new FinishReason?[count];
        var texts = new string?[count];
        var positions = batch.Lengths.ToArray();
        var mask = batch.AttentionMask.clone().DetachFromDisposeScope();
        // Each row may grow to the context on its own: a short prompt is not cut because a longer one shares its batch.
        var rowRoom = batch.Lengths.Select(length => (int)Math.Min(options.MaxNewTokens, config.ModelMaxLength - length)).ToArray();
        var room = rowRoom.Max();

        // The step loop hands lastLogits and mask from one step's scope to the next, so they
        // live outside every scope; the finally frees them on every exit, a cancellation included.
        var lastLogits = LastLogits(batch.InputsEmbeds, mask, batch.PositionIds, cache).DetachFromDisposeScope();
        try
        {
            for (var step = 0; step < room; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var stepScope = NewDisposeScope();
                var next = Choose(lastLogits, options, generator);
                for (var b = 0; b < count; b++)
                {
                    if (finish[b] is not null)
                    {
                        continue;
                    }
                    var token = (int)next[b];
                    generated[b].Add(token);
                    if (token == options.EosTokenId)
                    {
                        finish[b] = FinishReason.EndOfSequence;
                    }
                    else if (options.StopStrings is { Count: > 0 } stops)
                    {
                        var text = decode!(generated[b]);
                        var at = stops.Select(s => text.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
                        if (at >= 0)
                        {
                            finish[b] = FinishReason.StopString;
                            texts[b] = text[..at];
                        }
                    }
                    if (finish[b] is null && generated[b].Count >= rowRoom[b])
                    {
                        // Its own limit: max new tokens, or the context (positions), reached.
                        finish[b] = FinishReason.Length;
                    }
                }
                if (finish.All(f => f is not null) || step == room - 1)
                {
                    break;
                }
                // Finished rows keep stepping (with their last token) so the batch keeps its shape; their output is ignored.
                var tokens = tensor(next.Select((t, b) => finish[b] is null ? t : generated[b][^1]).ToArray(), [count, 1], ScalarType.Int64, model.Device);
                var embeds = model.LanguageModel.Embed(tokens);
                var stepPositions = tensor(positions, [count, 1], ScalarType.Int64, model.Device);
                for (var b = 0; b < count; b++)
                {
                    positions[b]++;
                }
                var grown = cat([mask, ones([count, 1], ScalarType.Int64, model.Device)], 1).DetachFromDisposeScope();
                mask.Dispose();
                mask = grown;
                lastLogits.Dispose();
                lastLogits = LastLogits(embeds, mask, stepPositions, cache).DetachFromDisposeScope();
            }
        }
        finally
        {
            lastLogits.Dispose();
            mask.Dispose();
        }

        var results = new GenerationResult[count];
        for (var b = 0; b < count; b++)
        {
            var ids = generated[b].ToArray();
            var text = texts[b] ?? decode?.Invoke(ids);
            results[b] = new GenerationResult(ids, text, finish[b] ?? FinishReason.Length);
        }
        return results;
    }

    private Tensor LastLogits(Tensor embeds, Tensor mask, Tensor positionIds, KeyValueCache cache)
    {
        using var scope = NewDisposeScope();
        var hidden = model.LanguageModel.Forward(embeds, mask, positionIds, cache);
        var last = hidden.narrow(1, hidden.shape[1] - 1, 1);
        return model.LanguageModel.Logits(last).squeeze(1).MoveToOuterDisposeScope();
    }

    /// <summary>The next token of every row: argmax, or a sample after temperature and top-p.</summary>
    private static long[] Choose(Tensor logits, GenerationOptions options, Generator? generator)
    {
        using var scope = NewDisposeScope();
        if (options.Temperature == 0)
        {
            return logits.argmax(-1).data<long>().ToArray();
        }
        var probabilities = logits.Over(options.Temperature).softmax(-1);
        if (options.TopP < 1)
        {
            var (sorted, order) = probabilities.sort(-1, descending: true);
            // A token stays when the probability mass before it is below top-p (so the first always stays).
            var before = sorted.cumsum(-1).Minus(sorted);
            var kept = sorted.FillWhere(before.AtLeast(options.TopP), 0);
            probabilities = zeros_like(probabilities).scatter(-1, order, kept);
        }
        return multinomial(probabilities, 1, generator: generator).squeeze(1).data<long>().ToArray();
    }
}
