namespace SynthVlm.Hallucination.Chair;

/// <summary>
/// The objects in each image, built as the official CHAIR code builds them
/// (<c>get_annotations</c>): the COCO objects of the image's instance segmentations, plus every
/// object its ground-truth captions mention (read with <see cref="ChairVocabulary.Read"/>).
/// </summary>
/// <remarks>
/// Files, as the official code requires: instances_val2014.json, instances_train2014.json,
/// captions_val2014.json and captions_train2014.json in one folder (all four must exist). Quirk
/// kept: category ids of both instance files are named with the <b>train</b> file's category list.
/// Only images asked for are kept (the official code keeps the images of the captions it scores);
/// an image the annotations do not mention has no objects, so every object a caption of it
/// mentions counts as hallucinated. The official code fails on a category id its list lacks or a
/// category name the synonym table lacks; so does this, naming the file and annotation.
/// </remarks>
public sealed class ChairGroundTruth
{
    /// <summary>The annotation files read, in the folder given.</summary>
    public static IReadOnlyList<string> RequiredFiles { get; } =
        ["instances_val2014.json", "instances_train2014.json", "captions_val2014.json", "captions_train2014.json"];

    private static readonly IReadOnlySet<string> InstanceArrays = new HashSet<string>(StringComparer.Ordinal) { "categories", "annotations" };
    private static readonly IReadOnlySet<string> CaptionArrays = new HashSet<string>(StringComparer.Ordinal) { "annotations" };
    private static readonly IReadOnlySet<string> Empty = new HashSet<string>();

    private readonly Dictionary<long, HashSet<string>> _objects;

    private ChairGroundTruth(Dictionary<long, HashSet<string>> objects) => _objects = objects;

    /// <summary>The objects in <paramref name="imageId"/>; empty when the annotations have none (or do not know it).</summary>
    public IReadOnlySet<string> ObjectsIn(long imageId) => _objects.TryGetValue(imageId, out var set) ? set : Empty;

    /// <summary>Reads the COCO annotation folder for the images in <paramref name="imageIds"/>.</summary>
    /// <exception cref="FileNotFoundException">One of <see cref="RequiredFiles"/> is missing.</exception>
    /// <exception cref="InvalidDataException">A file is not COCO JSON, or an annotation names an unknown category.</exception>
    public static ChairGroundTruth LoadCoco(string annotationsFolder, IReadOnlySet<long> imageIds, ChairVocabulary vocabulary, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(imageIds);
        ArgumentNullException.ThrowIfNull(vocabulary);
        var missing = RequiredFiles.Where(f => !File.Exists(Path.Combine(annotationsFolder, f))).ToList();
        if (missing.Count > 0)
        {
            throw new FileNotFoundException(
                $"{annotationsFolder}: CHAIR reads COCO 2014 annotations as the official code does and needs {string.Join(", ", RequiredFiles)}; missing: {string.Join(", ", missing)}.");
        }
        var objects = imageIds.ToDictionary(id => id, _ => new HashSet<string>(StringComparer.Ordinal));

        // Segmentations: categories from the train file only; annotations of val, then train.
        var trainInstances = Path.Combine(annotationsFolder, "instances_train2014.json");
        var names = new Dictionary<long, string>();
        var pending = new List<(string File, CocoRecord Record)>();
        foreach (var file in new[] { "instances_val2014.json", "instances_train2014.json" })
        {
            var path = Path.Combine(annotationsFolder, file);
            CocoJsonScanner.Scan(path, InstanceArrays, record =>
            {
                if (record.Array == "categories")
                {
                    if (path == trainInstances && record.Id is { } id && record.Name is { } name)
                    {
                        names[id] = name;
                    }
                }
                else if (record.ImageId is { } image && objects.ContainsKey(image))
                {
                    pending.Add((path, record));
                }
            }, cancellationToken);
        }
        foreach (var (file, record) in pending)
        {
            var where = $"{file}: annotation {record.Id?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? $"#{record.Index + 1}"} (image {record.ImageId})";
            if (record.CategoryId is not { } category)
            {
                throw new InvalidDataException($"{where}: expected an integer category_id, found none.");
            }
            if (!names.TryGetValue(category, out var categoryName))
            {
                throw new InvalidDataException($"{where}: category_id {category} is not in {trainInstances}'s categories (the official code names categories from the train file).");
            }
            var node = vocabulary.ObjectOf(categoryName)
                ?? throw new InvalidDataException($"{where}: category '{categoryName}' is not in the CHAIR synonym table (expected one of COCO's 80 object names).");
            objects[record.ImageId!.Value].Add(node);
        }

        // Ground-truth captions of val and train.
        foreach (var file in new[] { "captions_val2014.json", "captions_train2014.json" })
        {
            var path = Path.Combine(annotationsFolder, file);
            CocoJsonScanner.Scan(path, CaptionArrays, record =>
            {
                if (record.ImageId is { } image && objects.TryGetValue(image, out var set))
                {
                    if (record.Caption is null)
                    {
                        throw new InvalidDataException($"{path}: annotation {record.Id?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? $"#{record.Index + 1}"} (image {image}): expected a string caption, found none.");
                    }
                    foreach (var mention in vocabulary.Read(record.Caption).Mentions)
                    {
                        set.Add(mention.Object);
                    }
                }
            }, cancellationToken);
        }
        return new ChairGroundTruth(objects);
    }
}
