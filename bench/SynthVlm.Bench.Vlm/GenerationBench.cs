using SynthVlm.Vlm.Model;

namespace SynthVlm.Bench.Vlm;

/// <summary>Greedy generation tokens/s with the KV cache (lib/SynthVlm.Vlm/Generation, once it lands).</summary>
internal static class GenerationBench
{
    public static string Run(LlavaModel model, BenchOptions options, string modelDir, string referenceScript, string work, bool withPython)
    {
        _ = (model, options, modelDir, referenceScript, work, withPython);
        return "generation: skipped: LlavaGenerator (lib/SynthVlm.Vlm/Generation) is not in this build yet";
    }
}
