namespace SynthVlm.Diffusion.Schedulers;

/// <summary>Creates schedulers by diffusers class name or alias (see <see cref="SchedulerNames"/>).</summary>
/// <remarks>
/// Code inside a <c>SynthVlm.Diffusion.*</c> namespace resolves <c>Schedulers</c> to the namespace
/// <c>SynthVlm.Diffusion.Schedulers</c> before this class; alias the type there:
/// <c>using SchedulerFactory = SynthVlm.Diffusion.Schedulers.Schedulers;</c>.
/// </remarks>
public static class Schedulers
{
    /// <summary>
    /// Builds the scheduler named by <paramref name="overrideName"/>, or by the config's <c>_class_name</c> when
    /// null. A different class reuses the config's shared keys, as diffusers' <c>from_config</c> does (the SDXL
    /// config gives DPM-Solver leading spacing with offset 1). Aliases: <c>euler</c>, <c>euler-a</c>,
    /// <c>dpmpp-2m</c> (DPM-Solver++ order 2, no Karras), <c>dpmpp-2m-karras</c> (the same with Karras sigmas), <c>flow-euler</c> (flow matching; only
    /// meaningful for flow-matching models such as SD3, whose configs name it).
    /// </summary>
    /// <exception cref="SchedulerConfigException">Unknown or missing name (the message lists the supported ones), or a setting the scheduler does not support.</exception>
    public static IDiffusionScheduler Create(SchedulerConfig config, string? overrideName = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        string? name = overrideName ?? config.ClassName;
        string key = overrideName is null ? SchedulerConfig.Keys.ClassName : nameof(overrideName);
        if (string.IsNullOrWhiteSpace(name))
        {
            throw new SchedulerConfigException(config.Source, SchedulerConfig.Keys.ClassName, $"no scheduler class named; pass one of {Supported}");
        }

        return name.ToLowerInvariant() switch
        {
            "eulerdiscretescheduler" or SchedulerNames.Euler => new EulerDiscreteScheduler(config),
            "eulerancestraldiscretescheduler" or SchedulerNames.EulerAncestral => new EulerAncestralDiscreteScheduler(config),
            "dpmsolvermultistepscheduler" => new DpmSolverMultistepScheduler(config),
            "flowmatcheulerdiscretescheduler" or SchedulerNames.FlowMatchEuler => new FlowMatchEulerDiscreteScheduler(config),
            SchedulerNames.DpmPlusPlus2M => new DpmSolverMultistepScheduler(config with { AlgorithmType = "dpmsolver++", SolverOrder = 2, UseKarrasSigmas = false }),
            SchedulerNames.DpmPlusPlus2MKarras => new DpmSolverMultistepScheduler(config with { AlgorithmType = "dpmsolver++", SolverOrder = 2, UseKarrasSigmas = true }),
            _ => throw new SchedulerConfigException(config.Source, key, $"unknown scheduler '{name}'; supported: {Supported}"),
        };
    }

    private static string Supported => string.Join(", ", SchedulerNames.All);
}
