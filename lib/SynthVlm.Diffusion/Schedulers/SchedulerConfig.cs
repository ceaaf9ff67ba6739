using System.Globalization;
using System.Text.Json;

namespace SynthVlm.Diffusion.Schedulers;

/// <summary>
/// The keys of diffusers' <c>scheduler_config.json</c> that the schedulers here read. Defaults are diffusers'
/// constructor defaults, which the three supported classes share, so a config written for one class configures
/// another the way diffusers' <c>from_config</c> does (keys the target class lacks are ignored).
/// </summary>
/// <remarks>
/// Settings that diffusers offers but this implementation does not (exponential/beta/Lu sigmas, flow sigmas,
/// thresholding, zero-terminal-SNR rescaling, continuous timesteps, log-linear interpolation, learned variance,
/// the deprecated non-"++" DPM-Solver variants) are parsed so that a non-default value is reported by
/// <see cref="Schedulers.Create"/> instead of being silently ignored.
/// </remarks>
public sealed record SchedulerConfig
{
    /// <summary>Where the configuration came from (a path or a description); used in error messages.</summary>
    public string Source { get; init; } = "scheduler config";

    /// <summary><c>_class_name</c>: the diffusers scheduler class, e.g. <c>EulerDiscreteScheduler</c>; null when absent.</summary>
    public string? ClassName { get; init; }

    /// <summary><c>num_train_timesteps</c>: length of the training schedule (≥ 2).</summary>
    public int NumTrainTimesteps { get; init; } = 1000;

    /// <summary><c>beta_start</c>: first β of the training schedule.</summary>
    public double BetaStart { get; init; } = 0.0001;

    /// <summary><c>beta_end</c>: last β of the training schedule.</summary>
    public double BetaEnd { get; init; } = 0.02;

    /// <summary><c>beta_schedule</c>: <c>linear</c>, <c>scaled_linear</c> (SD/SDXL) or <c>squaredcos_cap_v2</c>.</summary>
    public string BetaSchedule { get; init; } = "linear";

    /// <summary><c>trained_betas</c>: explicit βs that replace <see cref="BetaSchedule"/>; null when absent.</summary>
    public IReadOnlyList<double>? TrainedBetas { get; init; }

    /// <summary><c>prediction_type</c>: <c>epsilon</c>, <c>v_prediction</c> or <c>sample</c> (support varies by scheduler).</summary>
    public string PredictionType { get; init; } = "epsilon";

    /// <summary><c>timestep_spacing</c>: <c>leading</c> (SDXL), <c>trailing</c> or <c>linspace</c>.</summary>
    public string TimestepSpacing { get; init; } = "linspace";

    /// <summary><c>steps_offset</c>: added to <c>leading</c> timesteps (SDXL: 1).</summary>
    public int StepsOffset { get; init; }

    /// <summary><c>interpolation_type</c> (Euler): only <c>linear</c> is supported.</summary>
    public string InterpolationType { get; init; } = "linear";

    /// <summary><c>use_karras_sigmas</c> (Euler, DPM-Solver): Karras et al. ρ = 7 noise levels.</summary>
    public bool UseKarrasSigmas { get; init; }

    /// <summary><c>sigma_min</c> (Euler with Karras sigmas): overrides the smallest σ of the ramp; null = schedule's.</summary>
    public double? SigmaMin { get; init; }

    /// <summary><c>sigma_max</c> (Euler with Karras sigmas): overrides the largest σ of the ramp; null = schedule's.</summary>
    public double? SigmaMax { get; init; }

    /// <summary><c>final_sigmas_type</c> (Euler, DPM-Solver): <c>zero</c> or <c>sigma_min</c> (σ of training step 0).</summary>
    public string FinalSigmasType { get; init; } = "zero";

    /// <summary><c>solver_order</c> (DPM-Solver): 1, 2 or 3.</summary>
    public int SolverOrder { get; init; } = 2;

    /// <summary><c>algorithm_type</c> (DPM-Solver): <c>dpmsolver++</c> or <c>sde-dpmsolver++</c>.</summary>
    public string AlgorithmType { get; init; } = "dpmsolver++";

    /// <summary><c>solver_type</c> (DPM-Solver): <c>midpoint</c> or <c>heun</c>.</summary>
    public string SolverType { get; init; } = "midpoint";

    /// <summary><c>lower_order_final</c> (DPM-Solver): lower the order on the last steps when there are fewer than 15.</summary>
    public bool LowerOrderFinal { get; init; } = true;

    /// <summary><c>euler_at_final</c> (DPM-Solver): first-order last step whatever the step count.</summary>
    public bool EulerAtFinal { get; init; }

    /// <summary><c>lambda_min_clipped</c> (DPM-Solver): clips the schedule where λ(t) falls below it.</summary>
    public double LambdaMinClipped { get; init; } = double.NegativeInfinity;

    /// <summary><c>timestep_type</c> (Euler): only <c>discrete</c> is supported.</summary>
    public string TimestepType { get; init; } = "discrete";

    /// <summary><c>rescale_betas_zero_snr</c>: not supported (must be false).</summary>
    public bool RescaleBetasZeroSnr { get; init; }

    /// <summary><c>use_exponential_sigmas</c>: not supported (must be false).</summary>
    public bool UseExponentialSigmas { get; init; }

    /// <summary><c>use_beta_sigmas</c>: not supported (must be false).</summary>
    public bool UseBetaSigmas { get; init; }

    /// <summary><c>use_lu_lambdas</c> (DPM-Solver): not supported (must be false).</summary>
    public bool UseLuLambdas { get; init; }

    /// <summary><c>use_flow_sigmas</c> (DPM-Solver): not supported (must be false).</summary>
    public bool UseFlowSigmas { get; init; }

    /// <summary><c>thresholding</c> (DPM-Solver): not supported (must be false).</summary>
    public bool Thresholding { get; init; }

    /// <summary><c>use_dynamic_shifting</c> (DPM-Solver): not supported (must be false).</summary>
    public bool UseDynamicShifting { get; init; }

    /// <summary><c>variance_type</c> (DPM-Solver): only null (fixed variance) is supported.</summary>
    public string? VarianceType { get; init; }

    /// <summary><c>shift</c> (flow matching): σ ← shift·σ / (1 + (shift − 1)·σ); SD3 medium uses 3.0. Must be positive.</summary>
    public double Shift { get; init; } = 1.0;

    /// <summary><c>shift_terminal</c> (flow matching): not supported (must be null or 0).</summary>
    public double? ShiftTerminal { get; init; }

    /// <summary><c>invert_sigmas</c> (flow matching, Mochi): not supported (must be false).</summary>
    public bool InvertSigmas { get; init; }

    /// <summary><c>stochastic_sampling</c> (flow matching): not supported (must be false).</summary>
    public bool StochasticSampling { get; init; }

    /// <summary>The Stable Diffusion 3 medium scheduler (FlowMatchEulerDiscreteScheduler, 1000 training steps, shift 3.0).</summary>
    public static SchedulerConfig StableDiffusion3 { get; } = new()
    {
        Source = "SD3 medium scheduler_config.json",
        ClassName = SchedulerNames.FlowMatchEulerDiscrete,
        Shift = 3.0,
    };

    /// <summary>The SDXL base/refiner 1.0 scheduler (EulerDiscreteScheduler, scaled_linear 0.00085–0.012, leading, offset 1).</summary>
    public static SchedulerConfig StableDiffusionXl { get; } = new()
    {
        Source = "SDXL 1.0 scheduler_config.json",
        ClassName = SchedulerNames.EulerDiscrete,
        BetaStart = 0.00085,
        BetaEnd = 0.012,
        BetaSchedule = "scaled_linear",
        StepsOffset = 1,
        TimestepSpacing = "leading",
    };

    /// <summary>Reads <paramref name="path"/> (a diffusers <c>scheduler_config.json</c>).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="SchedulerConfigException">The file is not valid JSON or a key has a bad value.</exception>
    public static SchedulerConfig FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return FromJson(File.ReadAllText(path), path);
    }

    /// <summary>
    /// Parses a diffusers scheduler config. Unknown keys (and those starting with <c>_</c> other than
    /// <c>_class_name</c>) are ignored; a JSON null means the default.
    /// </summary>
    /// <param name="json">The JSON object.</param>
    /// <param name="source">Where it came from, for error messages.</param>
    /// <exception cref="SchedulerConfigException">Not a JSON object, or a key has a bad value.</exception>
    public static SchedulerConfig FromJson(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(source);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(QuoteNonFiniteLiterals(json));
        }
        catch (JsonException e)
        {
            throw new SchedulerConfigException(source, null, $"not valid JSON ({e.Message})", e);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new SchedulerConfigException(source, null, $"expected a JSON object, found {root.ValueKind}");
            }

            var reader = new KeyReader(root, source);
            var config = new SchedulerConfig
            {
                Source = source,
                ClassName = reader.String(Keys.ClassName, null),
                NumTrainTimesteps = reader.Int(Keys.NumTrainTimesteps, 1000),
                BetaStart = reader.Double(Keys.BetaStart, 0.0001),
                BetaEnd = reader.Double(Keys.BetaEnd, 0.02),
                BetaSchedule = reader.String(Keys.BetaSchedule, "linear")!,
                TrainedBetas = reader.DoubleArray(Keys.TrainedBetas),
                PredictionType = reader.String(Keys.PredictionType, "epsilon")!,
                TimestepSpacing = reader.String(Keys.TimestepSpacing, "linspace")!,
                StepsOffset = reader.Int(Keys.StepsOffset, 0),
                InterpolationType = reader.String(Keys.InterpolationType, "linear")!,
                UseKarrasSigmas = reader.Bool(Keys.UseKarrasSigmas, false),
                SigmaMin = reader.NullableDouble(Keys.SigmaMin),
                SigmaMax = reader.NullableDouble(Keys.SigmaMax),
                FinalSigmasType = reader.String(Keys.FinalSigmasType, "zero")!,
                SolverOrder = reader.Int(Keys.SolverOrder, 2),
                AlgorithmType = reader.String(Keys.AlgorithmType, "dpmsolver++")!,
                SolverType = reader.String(Keys.SolverType, "midpoint")!,
                LowerOrderFinal = reader.Bool(Keys.LowerOrderFinal, true),
                EulerAtFinal = reader.Bool(Keys.EulerAtFinal, false),
                LambdaMinClipped = reader.Double(Keys.LambdaMinClipped, double.NegativeInfinity),
                TimestepType = reader.String(Keys.TimestepType, "discrete")!,
                RescaleBetasZeroSnr = reader.Bool(Keys.RescaleBetasZeroSnr, false),
                UseExponentialSigmas = reader.Bool(Keys.UseExponentialSigmas, false),
                UseBetaSigmas = reader.Bool(Keys.UseBetaSigmas, false),
                UseLuLambdas = reader.Bool(Keys.UseLuLambdas, false),
                UseFlowSigmas = reader.Bool(Keys.UseFlowSigmas, false),
                Thresholding = reader.Bool(Keys.Thresholding, false),
                UseDynamicShifting = reader.Bool(Keys.UseDynamicShifting, false),
                VarianceType = reader.String(Keys.VarianceType, null),
                Shift = reader.Double(Keys.Shift, 1.0),
                ShiftTerminal = reader.NullableDouble(Keys.ShiftTerminal),
                InvertSigmas = reader.Bool(Keys.InvertSigmas, false),
                StochasticSampling = reader.Bool(Keys.StochasticSampling, false),
            };
            config.ValidateCommon();
            return config;
        }
    }

    /// <summary>
    /// Python's json module writes non-finite floats as bare <c>-Infinity</c>, <c>Infinity</c> and <c>NaN</c>
    /// (diffusers saves <c>lambda_min_clipped: -Infinity</c>), which strict JSON readers reject; this quotes them
    /// outside strings so they parse as strings and <see cref="KeyReader.NullableDouble"/> reads them.
    /// </summary>
    internal static string QuoteNonFiniteLiterals(string json)
    {
        if (!json.Contains("Infinity", StringComparison.Ordinal) && !json.Contains("NaN", StringComparison.Ordinal))
        {
            return json;
        }

        var builder = new System.Text.StringBuilder(json.Length + 16);
        bool inString = false;
        for (int i = 0; i < json.Length; i++)
        {
            char c = json[i];
            if (inString)
            {
                builder.Append(c);
                if (c == '\\' && i + 1 < json.Length)
                {
                    builder.Append(json[++i]);
                }
                else if (c == '"')
                {
                    inString = false;
                }

                continue;
            }

            if (c == '"')
            {
                inString = true;
                builder.Append(c);
                continue;
            }

            string? literal = null;
            foreach (string candidate in NonFiniteLiterals)
            {
                if (string.CompareOrdinal(json, i, candidate, 0, candidate.Length) == 0)
                {
                    literal = candidate;
                    break;
                }
            }

            if (literal is null)
            {
                builder.Append(c);
            }
            else
            {
                builder.Append('"').Append(literal).Append('"');
                i += literal.Length - 1;
            }
        }

        return builder.ToString();
    }

    private static readonly string[] NonFiniteLiterals = ["-Infinity", "Infinity", "NaN"];

    /// <summary>Checks the values every scheduler relies on; throws naming the key.</summary>
    internal void ValidateCommon()
    {
        if (NumTrainTimesteps < 2)
        {
            throw Bad(Keys.NumTrainTimesteps, $"must be at least 2, found {NumTrainTimesteps}");
        }

        if (TrainedBetas is null)
        {
            OneOf(Keys.BetaSchedule, BetaSchedule, "linear", "scaled_linear", "squaredcos_cap_v2");
            if (BetaSchedule != "squaredcos_cap_v2")
            {
                if (!(BetaStart > 0 && BetaStart < 1))
                {
                    throw Bad(Keys.BetaStart, $"must be in (0, 1), found {Format(BetaStart)}");
                }

                if (!(BetaEnd > 0 && BetaEnd < 1))
                {
                    throw Bad(Keys.BetaEnd, $"must be in (0, 1), found {Format(BetaEnd)}");
                }
            }
        }
        else
        {
            if (TrainedBetas.Count != NumTrainTimesteps)
            {
                throw Bad(Keys.TrainedBetas, $"has {TrainedBetas.Count} values, expected num_train_timesteps = {NumTrainTimesteps}");
            }

            for (int i = 0; i < TrainedBetas.Count; i++)
            {
                if (!(TrainedBetas[i] > 0 && TrainedBetas[i] < 1))
                {
                    throw Bad(Keys.TrainedBetas, $"value {i} must be in (0, 1), found {Format(TrainedBetas[i])}");
                }
            }
        }

        OneOf(Keys.TimestepSpacing, TimestepSpacing, "linspace", "leading", "trailing");
        OneOf(Keys.FinalSigmasType, FinalSigmasType, "zero", "sigma_min");
        if (StepsOffset < 0 || StepsOffset >= NumTrainTimesteps)
        {
            throw Bad(Keys.StepsOffset, $"must be in [0, num_train_timesteps), found {StepsOffset}");
        }

        if (SigmaMin is { } sMin && !(sMin > 0))
        {
            throw Bad(Keys.SigmaMin, $"must be positive, found {Format(sMin)}");
        }

        if (SigmaMax is { } sMax && !(sMax > 0 && double.IsFinite(sMax)))
        {
            throw Bad(Keys.SigmaMax, $"must be positive and finite, found {Format(sMax)}");
        }

        if (double.IsNaN(LambdaMinClipped))
        {
            throw Bad(Keys.LambdaMinClipped, "must be a number");
        }

        Unsupported(Keys.RescaleBetasZeroSnr, RescaleBetasZeroSnr);
        Unsupported(Keys.UseExponentialSigmas, UseExponentialSigmas);
        Unsupported(Keys.UseBetaSigmas, UseBetaSigmas);
    }

    internal SchedulerConfigException Bad(string key, string problem) => new(Source, key, problem);

    internal void OneOf(string key, string value, params string[] allowed)
    {
        if (Array.IndexOf(allowed, value) < 0)
        {
            throw Bad(key, $"'{value}' is not supported; expected one of {string.Join(", ", allowed.Select(a => $"'{a}'"))}");
        }
    }

    internal void Unsupported(string key, bool value)
    {
        if (value)
        {
            throw Bad(key, "true is not supported by this implementation (only false)");
        }
    }

    internal static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The scheduler_config.json key names, spelled once.</summary>
    internal static class Keys
    {
        public const string ClassName = "_class_name";
        public const string NumTrainTimesteps = "num_train_timesteps";
        public const string BetaStart = "beta_start";
        public const string BetaEnd = "beta_end";
        public const string BetaSchedule = "beta_schedule";
        public const string TrainedBetas = "trained_betas";
        public const string PredictionType = "prediction_type";
        public const string TimestepSpacing = "timestep_spacing";
        public const string StepsOffset = "steps_offset";
        public const string InterpolationType = "interpolation_type";
        public const string UseKarrasSigmas = "use_karras_sigmas";
        public const string SigmaMin = "sigma_min";
        public const string SigmaMax = "sigma_max";
        public const string FinalSigmasType = "final_sigmas_type";
        public const string SolverOrder = "solver_order";
        public const string AlgorithmType = "algorithm_type";
        public const string SolverType = "solver_type";
        public const string LowerOrderFinal = "lower_order_final";
        public const string EulerAtFinal = "euler_at_final";
        public const string LambdaMinClipped = "lambda_min_clipped";
        public const string TimestepType = "timestep_type";
        public const string RescaleBetasZeroSnr = "rescale_betas_zero_snr";
        public const string UseExponentialSigmas = "use_exponential_sigmas";
        public const string UseBetaSigmas = "use_beta_sigmas";
        public const string UseLuLambdas = "use_lu_lambdas";
        public const string UseFlowSigmas = "use_flow_sigmas";
        public const string Thresholding = "thresholding";
        public const string UseDynamicShifting = "use_dynamic_shifting";
        public const string VarianceType = "variance_type";
        public const string Shift = "shift";
        public const string ShiftTerminal = "shift_terminal";
        public const string InvertSigmas = "invert_sigmas";
        public const string StochasticSampling = "stochastic_sampling";
    }

    /// <summary>Typed access to the keys of one JSON object; a wrong type throws naming the key.</summary>
    private readonly struct KeyReader(JsonElement root, string source)
    {
        private bool TryGet(string key, out JsonElement value) =>
            root.TryGetProperty(key, out value) && value.ValueKind != JsonValueKind.Null;

        private SchedulerConfigException WrongType(string key, string expected, JsonElement found) =>
            new(source, key, $"expected {expected}, found {found.ValueKind} {found.GetRawText()}");

        public string? String(string key, string? fallback)
        {
            if (!TryGet(key, out var v))
            {
                return fallback;
            }

            return v.ValueKind == JsonValueKind.String ? v.GetString() : throw WrongType(key, "a string", v);
        }

        public int Int(string key, int fallback)
        {
            if (!TryGet(key, out var v))
            {
                return fallback;
            }

            if (v.ValueKind == JsonValueKind.Number)
            {
                if (v.TryGetInt32(out int i))
                {
                    return i;
                }

                // Python writes integral floats such as 1000.0 when a config was built from arithmetic.
                if (v.TryGetDouble(out double d) && d == Math.Floor(d) && d >= int.MinValue && d <= int.MaxValue)
                {
                    return (int)d;
                }
            }

            throw WrongType(key, "an integer", v);
        }

        public double Double(string key, double fallback) => NullableDouble(key) ?? fallback;

        public double? NullableDouble(string key)
        {
            if (!TryGet(key, out var v))
            {
                return null;
            }

            if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d))
            {
                return d;
            }

            // Python's json module writes -inf/inf/nan bare (e.g. lambda_min_clipped = -inf); a string form is accepted too.
            if (v.ValueKind == JsonValueKind.String
                && double.TryParse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double s))
            {
                return s;
            }

            throw WrongType(key, "a number", v);
        }

        public bool Bool(string key, bool fallback)
        {
            if (!TryGet(key, out var v))
            {
                return fallback;
            }

            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw WrongType(key, "true or false", v),
            };
        }

        public IReadOnlyList<double>? DoubleArray(string key)
        {
            if (!TryGet(key, out var v))
            {
                return null;
            }

            if (v.ValueKind != JsonValueKind.Array)
            {
                throw WrongType(key, "an array of numbers", v);
            }

            var values = new double[v.GetArrayLength()];
            int i = 0;
            foreach (var item in v.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Number)
                {
                    throw new SchedulerConfigException(source, key, $"item {i}: expected a number, found {item.ValueKind} {item.GetRawText()}");
                }

                values[i++] = item.GetDouble();
            }

            return values;
        }
    }
}
