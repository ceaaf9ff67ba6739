using System.Diagnostics;
using System.Text;
using SynthVlm.Vlm.Generation;
using SynthVlm.Vlm.Model;
using static TorchSharp.torch;

namespace SynthVlm.Bench.Vlm;

/// <summary>
/// Greedy generation tokens/s with the KV cache: <see cref="LlavaGenerator"/> against the cached
/// greedy loop of vlm_bench.py (the reference model's math plus a KV cache), batch 1 and 4, left
/// padding, one image per prompt. EOS is switched off on both sides so every prompt generates
/// exactly the asked number of tokens; tokens/s counts generated tokens over the whole call,
/// prefill (vision tower included) and the per-token steps together.
/// </summary>
internal static class GenerationBench
{
    private const int CallsPerRound = 5;

    public static string Run(LlavaModel model, BenchOptions options, string modelDir, string referenceScript, string work, bool withPython)
    {
        var config = model.Config;
        var side = config.Vision.ImageSize;
        var generator = new LlavaGenerator(model);
        // EosTokenId -1 matches no token: the 32 tokens are always generated, as in the Python loop.
        var generation = new GenerationOptions(MaxNewTokens: options.NewTokens, EosTokenId: -1);
        var text = new StringBuilder();
        text.AppendLine($"greedy generation, {options.NewTokens} new tokens per prompt, KV cache, left padding, one image per prompt ({CallsPerRound} calls per round, best of 3 alternated; prefill included)");
        text.AppendLine($"{"batch",5} {"threads",7} {"TorchSharp tok/s",17} {"PyTorch tok/s",14} {"TS/PT",7} {"TS ms/call",11} {"PT ms/call",11} {"same ids",9}");
        foreach (var batch in new[] { 1, 4 })
        {
            var prompts = Prompts(config, batch);
            using var pixels = BenchInputs.Pixels(batch, side, model.Device, model.DType);
            var images = Enumerable.Range(0, batch).Select(b => pixels[b]).ToList();
            var requests = prompts.Select((p, b) => new GenerationRequest(p, images[b])).ToList();
            foreach (var threads in options.Threads)
            {
                var oursBest = double.MaxValue;
                var theirsBest = double.MaxValue;
                int[][] ours = [];
                int[][]? theirs = null;
                for (var round = 0; round < 3; round++)
                {
                    set_num_threads(threads);
                    for (var i = 0; i < 2; i++)
                    {
                        ours = [.. generator.Generate(requests, generation).Select(r => r.Ids)];
                    }
                    var sw = Stopwatch.StartNew();
                    for (var i = 0; i < CallsPerRound; i++)
                    {
                        generator.Generate(requests, generation);
                    }
                    oursBest = Math.Min(oursBest, sw.Elapsed.TotalSeconds);
                    if (withPython)
                    {
                        var sequences = prompts.Select(p => new LlavaSequence(p)).ToList();
                        var result = BenchInputs.RunPython(options.Python, work, BenchInputs.Request("generate", modelDir, referenceScript, sequences, batch, side, threads, CallsPerRound, options.NewTokens));
                        theirsBest = Math.Min(theirsBest, result.GetProperty("seconds").GetDouble());
                        theirs = [.. result.GetProperty("ids").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetInt32()).ToArray())];
                    }
                }
                var tokens = (double)batch * options.NewTokens * CallsPerRound;
                var same = theirs is null ? "-" : ours.Length == theirs.Length && ours.Zip(theirs).All(p => p.First.SequenceEqual(p.Second)) ? "yes" : "NO";
                var pt = withPython ? $"{tokens / theirsBest,14:F0} {theirsBest / oursBest,6:F2}x" : $"{"-",14} {"-",7}";
                var ptMs = withPython ? $"{1000 * theirsBest / CallsPerRound,11:F2}" : $"{"-",11}";
                text.AppendLine($"{batch,5} {threads,7} {tokens / oursBest,17:F0} {pt} {1000 * oursBest / CallsPerRound,11:F2} {ptMs} {same,9}");
            }
            images.ForEach(i => i.Dispose());
        }
        text.Append("PyTorch = vlm_bench.py's cached greedy loop (the parity reference's decoder math with a KV cache added there; the reference's own greedy re-runs the whole sequence per token). same ids: every generated id equal on both sides.");
        return text.ToString();
    }

    // BOS, the image, then 30, 26, 22, 18 text ids: left padding differs per row.
    private static List<int[]> Prompts(LlavaConfig config, int batch)
    {
        var prompts = new List<int[]>(batch);
        for (var b = 0; b < batch; b++)
        {
            var textLength = 30 - (4 * (b % 4));
            var ids = new int[2 + textLength];
            ids[0] = 1;
            ids[1] = LlavaConfig.LlavaImageTokenIndex;
            for (var t = 0; t < textLength; t++)
            {
                ids[2 + t] = 3 + (((b * 37) + (t * 11)) % (Math.Min(config.Text.VocabSize, 512) - 3));
            }
            prompts.Add(ids);
        }
        return prompts;
    }
}
