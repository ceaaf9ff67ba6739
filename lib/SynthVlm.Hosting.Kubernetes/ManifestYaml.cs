using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace SynthVlm.Hosting.Kubernetes;

/// <summary>
/// Builds manifest nodes and writes them as a multi-document YAML stream. Strings that a YAML 1.1
/// or 1.2 reader could take for a number, boolean or null ("yes", "8Gi" is fine but "0755" is not)
/// are double-quoted, because Kubernetes rejects a number where it wants a string (env values,
/// args, annotations).
/// </summary>
internal static partial class ManifestYaml
{
    private static readonly HashSet<string> Ambiguous = new(StringComparer.OrdinalIgnoreCase)
    {
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    };

    public static YamlScalarNode Str(string value) => new(value)
    {
        Style = SafePlain().IsMatch(value) && !Ambiguous.Contains(value) ? ScalarStyle.Plain : ScalarStyle.DoubleQuoted,
    };

    public static YamlScalarNode Int(int value) => new(value.ToString(CultureInfo.InvariantCulture)) { Style = ScalarStyle.Plain };

    public static YamlScalarNode Bool(bool value) => new(value ? "true" : "false") { Style = ScalarStyle.Plain };

    /// <summary>A mapping from alternating keys and values; a null value leaves the key out.</summary>
    public static YamlMappingNode Map(params (string Key, YamlNode? Value)[] entries)
    {
        var map = new YamlMappingNode();
        foreach (var (key, value) in entries)
        {
            if (value is not null)
            {
                map.Add(Str(key), value);
            }
        }
        return map;
    }

    public static YamlMappingNode StrMap(IEnumerable<KeyValuePair<string, string>> entries)
    {
        var map = new YamlMappingNode();
        foreach (var (key, value) in entries)
        {
            map.Add(Str(key), Str(value));
        }
        return map;
    }

    public static YamlSequenceNode Seq(params YamlNode[] items) => new(items);

    public static YamlSequenceNode Seq(IEnumerable<YamlNode> items) => new(items);

    /// <summary>Writes the documents, each opened by <c>---</c>, with no anchors and no end markers.</summary>
    public static void Write(TextWriter writer, IEnumerable<YamlNode> documents)
    {
        var emitter = new Emitter(writer);
        emitter.Emit(new StreamStart());
        foreach (var document in documents)
        {
            emitter.Emit(new DocumentStart(null, null, isImplicit: false));
            Emit(emitter, document);
            emitter.Emit(new DocumentEnd(isImplicit: true));
        }
        emitter.Emit(new StreamEnd());
    }

    private static void Emit(IEmitter emitter, YamlNode node)
    {
        switch (node)
        {
            case YamlScalarNode scalar:
                var plain = scalar.Style == ScalarStyle.Plain;
                emitter.Emit(new Scalar(AnchorName.Empty, TagName.Empty, scalar.Value ?? string.Empty, scalar.Style, isPlainImplicit: plain, isQuotedImplicit: !plain));
                break;
            case YamlSequenceNode sequence:
                emitter.Emit(new SequenceStart(AnchorName.Empty, TagName.Empty, isImplicit: true, SequenceStyle.Block));
                foreach (var item in sequence.Children)
                {
                    Emit(emitter, item);
                }
                emitter.Emit(new SequenceEnd());
                break;
            case YamlMappingNode mapping:
                // An empty mapping in block style would read back as null; flow style writes {}.
                emitter.Emit(new MappingStart(AnchorName.Empty, TagName.Empty, isImplicit: true, mapping.Children.Count == 0 ? MappingStyle.Flow : MappingStyle.Block));
                foreach (var (key, value) in mapping.Children)
                {
                    Emit(emitter, key);
                    Emit(emitter, value);
                }
                emitter.Emit(new MappingEnd());
                break;
            default:
                throw new ArgumentException($"Unsupported YAML node {node.GetType().Name}.", nameof(node));
        }
    }

    // Starts with a letter, '/', '_' or '$' (not '.', which begins .inf and .nan), holds no character
    // with meaning in plain scalars (": " and " #" cannot occur without spaces) and does not end in ':'.
    [GeneratedRegex(@"^[A-Za-z/_$][A-Za-z0-9_./:$()=+@-]*(?<!:)$")]
    private static partial Regex SafePlain();
}
