using System.Globalization;
using System.Runtime.CompilerServices;
using SynthVlm.ChatEndpoints;
using SynthVlm.Core.Concurrency;
using SynthVlm.Hallucination.Claims;

namespace SynthVlm.Recaptioning.Preferences;

/// <summary>How <see cref="PreferenceSampler"/> samples captions. Validated when the sampler is created.</summary>
public sealed record PreferenceSamplingOptions
{
    /// <summary>Captions sampled per image, N (default 4).</summary>
    public int SamplesPerImage { get; init; } = 4;

    /// <summary>The sampling temperature (default 0.7; above 0 so the samples differ).</summary>
    public double Temperature { get; init; } = 0.7;

    /// <summary>
    /// Sample k of every image is drawn with seed <c>BaseSeed + k</c> (default 0), so a round can be
    /// repeated and a cached <see cref="OpenAiChatClient"/> serves a rerun from its cache.
    /// </summary>
    public int BaseSeed { get; init; }

    /// <summary>Most tokens per caption (default 256).</summary>
    public int MaxTokens { get; init; } = 256;

    /// <summary>Images sampled and judged at the same time (default 2).</summary>
    public int MaxImagesInFlight { get; init; } = 2;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first unusable option.</summary>
    public void Validate()
    {
        const string Name = nameof(PreferenceSamplingOptions);
        foreach (var (value, name) in new[] { (MaxTokens, nameof(MaxTokens)), (MaxImagesInFlight, nameof(MaxImagesInFlight)) })
        {
            if (value < 1)
            {
                throw new ArgumentOutOfRangeException(name, value, $"{Name}.{name} must be at least 1; found {value}.");
            }
        }
        if (SamplesPerImage < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(SamplesPerImage), SamplesPerImage, $"{Name}.{nameof(SamplesPerImage)} must be at least 2 to make a pair; found {SamplesPerImage}.");
        }
        if (double.IsNaN(Temperature) || Temperature <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, $"{Name}.{nameof(Temperature)} must be above 0 (greedy decoding gives N copies of one caption); found {Temperature}.");
        }
    }
}

/// <summary>An image to sample captions for.</summary>
/// <param name="ImageId">The image's id.</param>
/// <param name="ImagePath">The image file.</param>
public sealed record PreferenceImageSource(string ImageId, string ImagePath);

/// <summary>
/// The first half of a preference round: N captions per image from the current captioner
/// (temperature, seeds <c>BaseSeed + k</c>), each judged by a <see cref="CaptionHallucinationJudge"/>,
/// ready for <see cref="PreferencePairBuilder"/>.
/// </summary>
/// <remarks>
/// A sample the captioner fails to produce (after its client's retries) is recorded in
/// <see cref="PreferenceImage.FailedSamples"/> and the image goes on; an empty caption is kept as a
/// sample and judged unjudged (<see cref="UnjudgedCause.EmptyCaption"/>), so it is recorded and
/// takes part in no pair.
/// </remarks>
public sealed class PreferenceSampler
{
    private readonly IChatModel _captioner;
    private readonly CaptionHallucinationJudge _judge;
    private readonly PreferenceSamplingOptions _options;

    /// <summary>Creates a sampler.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is unusable; the message names it.</exception>
    public PreferenceSampler(IChatModel captioner, CaptionHallucinationJudge judge, PreferenceSamplingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(captioner);
        ArgumentNullException.ThrowIfNull(judge);
        _options = options ?? new PreferenceSamplingOptions();
        _options.Validate();
        _captioner = captioner;
        _judge = judge;
    }

    /// <summary>Samples and judges N captions of one image answering <paramref name="prompt"/>.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<PreferenceImage> SampleAsync(PreferenceImageSource image, string prompt, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentException.ThrowIfNullOrWhiteSpace(prompt);
        var drawn = await Task.WhenAll(Enumerable.Range(0, _options.SamplesPerImage).Select(k => DrawAsync(image, prompt, k, cancellationToken))).ConfigureAwait(false);
        var samples = drawn.Where(d => d.Sample is not null).Select(d => d.Sample!).ToList();
        var failed = drawn.Where(d => d.Failure is not null).Select(d => d.Failure!).ToList();
        return new PreferenceImage(image.ImageId, image.ImagePath, prompt, samples, failed);
    }

    /// <summary>
    /// Samples a stream of images, <see cref="PreferenceSamplingOptions.MaxImagesInFlight"/> at a time,
    /// yielding them in input order.
    /// </summary>
    public async IAsyncEnumerable<PreferenceImage> SampleManyAsync(
        IAsyncEnumerable<PreferenceImageSource> images,
        string prompt,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentException.ThrowIfNullOrWhiteSpace(prompt);
        await foreach (var result in OrderedWindow.SelectAsync(images, _options.MaxImagesInFlight, (image, token) => SampleAsync(image, prompt, token), cancellationToken).ConfigureAwait(false))
        {
            yield return result;
        }
    }

    private async Task<(PreferenceSample? Sample, string? Failure)> DrawAsync(PreferenceImageSource image, string prompt, int k, CancellationToken cancellationToken)
    {
        var seed = unchecked(_options.BaseSeed + k);
        var id = string.Create(CultureInfo.InvariantCulture, $"{image.ImageId}#s{k}");
        string caption;
        try
        {
            var reply = await _captioner.CompleteAsync(
                new ChatRequest([ChatMessage.User(prompt, image.ImagePath)], _options.Temperature, _options.MaxTokens, seed),
                cancellationToken).ConfigureAwait(false);
            caption = reply.Text.Trim();
        }
        catch (ChatModelException e)
        {
            return (null, $"{id} (seed {seed.ToString(CultureInfo.InvariantCulture)}): {e.Message}");
        }
        var judgement = await _judge.JudgeAsync(new CaptionToJudge(id, image.ImagePath, caption), cancellationToken).ConfigureAwait(false);
        return (new PreferenceSample(id, caption, judgement, _options.Temperature, seed), null);
    }
}
