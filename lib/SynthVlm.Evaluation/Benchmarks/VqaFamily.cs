using System.Text;
using System.Text.Json.Nodes;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// What the VQA-family benchmarks (VQAv2, VizWiz, TextVQA, GQA) share: official-only scoring, the
/// humans' accuracy min(1, matches/3) averaged over the human answers, percentages of means rounded
/// as the script's Python rounds, and submission files written as Python's <c>json.dump</c> writes a list.
/// </summary>
internal static class VqaFamily
{
    /// <summary>
    /// Scores with the official definition off the calling thread; any variant is an
    /// <see cref="ArgumentException"/> naming the benchmark.
    /// </summary>
    public static Task<BenchmarkMetrics> ScoreOfficialAsync(
        string name, BenchmarkScoring scoring, Func<string, AnswerFile, BenchmarkMetrics> score, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scoring);
        if (scoring.Variant is not null)
        {
            throw new ArgumentException($"{name} has no variant '{scoring.Variant}'; it has only the official definition.", nameof(scoring));
        }
        return Task.Run(() => score(scoring.Directory, scoring.Answers), cancellationToken);
    }

    /// <summary>What the VQA evaluations compare: newlines and tabs turned into spaces, then Python's <c>strip()</c>.</summary>
    public static string Clean(string s) => PythonText.Strip(s.Replace("\n", " ", StringComparison.Ordinal).Replace("\t", " ", StringComparison.Ordinal));

    /// <summary>
    /// The mean over the human answers of min(1, matches/3), where the matches for human answer i are
    /// the answers j that count as its others (<paramref name="isOther"/>(i, j)) and match the prediction
    /// (<paramref name="matches"/>(j)).
    /// </summary>
    public static double HumanAccuracy(int humans, Func<int, int, bool> isOther, Func<int, bool> matches)
    {
        var sum = 0.0;
        for (var i = 0; i < humans; i++)
        {
            var count = 0;
            for (var j = 0; j < humans; j++)
            {
                if (isOther(i, j) && matches(j))
                {
                    count++;
                }
            }
            sum += Math.Min(1, count / 3.0);
        }
        return sum / humans;
    }

    /// <summary>Adds <paramref name="value"/> to <paramref name="key"/>'s group (in first-seen key order).</summary>
    public static void Add(Dictionary<string, List<double>> groups, string key, double value)
    {
        if (!groups.TryGetValue(key, out var list))
        {
            groups[key] = list = [];
        }
        list.Add(value);
    }

    /// <summary>100 × the mean (summed in order), rounded to 2 decimals by <paramref name="round"/> (Python 2's or 3's).</summary>
    public static double Percent(List<double> values, Func<double, int, double> round)
    {
        var sum = 0.0;
        foreach (var v in values)
        {
            sum += v;
        }
        return round(100 * sum / values.Count, 2);
    }

    /// <summary>Each group's <see cref="Percent"/>, in the groups' order.</summary>
    public static JsonObject Percents(Dictionary<string, List<double>> groups, Func<double, int, double> round)
    {
        var o = new JsonObject();
        foreach (var (key, values) in groups)
        {
            o[key] = Percent(values, round);
        }
        return o;
    }

    /// <summary>
    /// Writes a JSON list of <paramref name="count"/> items as Python's <c>json.dump</c> does (", "
    /// between items; <paramref name="item"/> writes item i), UTF-8 without BOM, creating the folder.
    /// </summary>
    public static void WriteJsonList(string outputPath, int count, Action<StringBuilder, int> item)
    {
        var sb = new StringBuilder("[");
        for (var i = 0; i < count; i++)
        {
            if (i > 0)
            {
                sb.Append(", ");
            }
            item(sb, i);
        }
        sb.Append(']');
        var folder = Path.GetDirectoryName(Path.GetFullPath(outputPath));
        if (!string.IsNullOrEmpty(folder))
        {
            Directory.CreateDirectory(folder);
        }
        File.WriteAllText(outputPath, sb.ToString(), new UTF8Encoding(false));
    }

    /// <summary>The EvalAI answer processor with Python's <c>str.lower</c> (U+0130, final sigma) in its <c>word_tokenize</c>.</summary>
    public static string EvalAiAnswerPythonLower(string answer)
    {
        var item = PythonText.Lower(answer).Replace(",", "", StringComparison.Ordinal).Replace("?", "", StringComparison.Ordinal).Replace("'s", " 's", StringComparison.Ordinal);
        item = PythonText.Strip(item);
        item = PythonText.Strip(item.Replace("\n", " ", StringComparison.Ordinal).Replace("\t", " ", StringComparison.Ordinal));
        return VqaAnswerNormalizer.EvalAi.ProcessDigitArticle(VqaAnswerNormalizer.EvalAi.ProcessPunctuation(item));
    }
}
