namespace SynthVlm.Diffusion.Schedulers;

/// <summary>
/// The scheduler names <see cref="Schedulers.Create"/> accepts: diffusers' class names (as written in
/// <c>_class_name</c>) and short aliases. Matching is case-insensitive.
/// </summary>
public static class SchedulerNames
{
    /// <summary>diffusers' <c>EulerDiscreteScheduler</c> (SDXL's default; deterministic Euler).</summary>
    public const string EulerDiscrete = "EulerDiscreteScheduler";

    /// <summary>diffusers' <c>EulerAncestralDiscreteScheduler</c> (draws fresh noise every step).</summary>
    public const string EulerAncestralDiscrete = "EulerAncestralDiscreteScheduler";

    /// <summary>diffusers' <c>DPMSolverMultistepScheduler</c>, configured entirely by the config.</summary>
    public const string DpmSolverMultistep = "DPMSolverMultistepScheduler";

    /// <summary>diffusers' <c>FlowMatchEulerDiscreteScheduler</c> (Stable Diffusion 3: Euler on the predicted velocity).</summary>
    public const string FlowMatchEulerDiscrete = "FlowMatchEulerDiscreteScheduler";

    /// <summary>Alias of <see cref="FlowMatchEulerDiscrete"/>.</summary>
    public const string FlowMatchEuler = "flow-euler";

    /// <summary>Alias of <see cref="EulerDiscrete"/>.</summary>
    public const string Euler = "euler";

    /// <summary>Alias of <see cref="EulerAncestralDiscrete"/>.</summary>
    public const string EulerAncestral = "euler-a";

    /// <summary>DPM-Solver++ 2M: <see cref="DpmSolverMultistep"/> with <c>algorithm_type=dpmsolver++</c>, <c>solver_order=2</c>, <c>use_karras_sigmas=false</c>.</summary>
    public const string DpmPlusPlus2M = "dpmpp-2m";

    /// <summary>DPM-Solver++ 2M Karras: as <see cref="DpmPlusPlus2M"/> with <c>use_karras_sigmas=true</c>.</summary>
    public const string DpmPlusPlus2MKarras = "dpmpp-2m-karras";

    /// <summary>Every accepted name, class names first.</summary>
    public static IReadOnlyList<string> All { get; } =
        [EulerDiscrete, EulerAncestralDiscrete, DpmSolverMultistep, FlowMatchEulerDiscrete, Euler, FlowMatchEuler, EulerAncestral, DpmPlusPlus2M, DpmPlusPlus2MKarras];
}
