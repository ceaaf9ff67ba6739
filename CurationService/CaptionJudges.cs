using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using SynthVlm.Judge;
using SynthVlm.Protos.V1;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.CurationService;

/// <summary>
/// One <see cref="CaptionJudge"/> per (endpoint, model, concurrency) a run asks for, shared by the
/// runs that ask for the same; verdicts are cached in {data}/cache/judge-*.jsonl so a rerun does
/// not pay twice. The API key is this service's OPENAI_API_KEY.
/// </summary>
public sealed class CaptionJudges(DataPaths paths) : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<CaptionJudge>> _judges = new(StringComparer.Ordinal);

    /// <summary>The judge for <paramref name="settings"/>.</summary>
    public CaptionJudge For(JudgeSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var key = $"{settings.Endpoint}\n{settings.Model}\n{settings.MaxConcurrency}";
        return _judges.GetOrAdd(key, _ => new Lazy<CaptionJudge>(() =>
        {
            var name = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{settings.Endpoint}\n{settings.Model}"))[..8]);
            var cache = Path.Combine(paths.DataDirectory, "cache", $"judge-{name}.jsonl");
            Directory.CreateDirectory(Path.GetDirectoryName(cache)!);
            return new CaptionJudge(new JudgeOptions
            {
                Endpoint = new Uri(settings.Endpoint),
                Model = settings.Model,
                MaxConcurrency = settings.MaxConcurrency,
                CacheFile = cache,
            });
        })).Value;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var judge in _judges.Values.Where(j => j.IsValueCreated))
        {
            judge.Value.Dispose();
        }
    }
}
