using System.Text.Json;
using SynthVlm.Testing;

namespace SynthVlm.LanguageModels.Tests;

/// <summary>Committed fixtures written by Fixtures/make_fixtures.py (sentencepiece 0.1.97).</summary>
internal static class Fixtures
{
    public static string PathOf(string name) =>
        Path.Combine(RepoPaths.Root, "tests", "SynthVlm.LanguageModels.Tests", "Fixtures", name);

    public static JsonDocument Json(string name) => JsonDocument.Parse(File.ReadAllBytes(PathOf(name)));

    public static string[] Texts()
    {
        using var doc = Json("texts.json");
        return [.. doc.RootElement.EnumerateArray().Select(e => e.GetString()!)];
    }

    private static readonly Lazy<SentencePieceModel> NfkcModel = new(() => SentencePieceModel.Load(PathOf("sp_nfkc.model")));
    private static readonly Lazy<SentencePieceModel> IdentityModel = new(() => SentencePieceModel.Load(PathOf("sp_identity.model")));
    private static readonly Lazy<SentencePieceModel> UserDefinedBytesModel = new(() => SentencePieceModel.Load(PathOf("sp_userdef_bytes.model")));
    private static readonly Lazy<SentencePieceModel> SuffixModel = new(() => SentencePieceModel.Load(PathOf("sp_suffix.model")));
    private static readonly Lazy<ArpaModel> Trigram = new(() => ArpaModel.Load(PathOf("trigram.arpa")));

    public static SentencePieceModel Sp(string name) => name switch
    {
        "sp_nfkc" => NfkcModel.Value,
        "sp_identity" => IdentityModel.Value,
        "sp_userdef_bytes" => UserDefinedBytesModel.Value,
        "sp_suffix" => SuffixModel.Value,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown fixture model"),
    };

    public static ArpaModel Arpa => Trigram.Value;

    public static string TempFile(string contents)
    {
        var path = Path.Combine(Path.GetTempPath(), $"synthvlm-lm-{Guid.NewGuid():N}");
        File.WriteAllText(path, contents);
        return path;
    }

    public static string TempFile(byte[] contents)
    {
        var path = Path.Combine(Path.GetTempPath(), $"synthvlm-lm-{Guid.NewGuid():N}");
        File.WriteAllBytes(path, contents);
        return path;
    }
}
