using System.Reflection;
using System.Text.Json;
using FluentAssertions;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Testing;
using SynthVlm.Vlm;
using SynthVlm.Vlm.Generation;
using SynthVlm.Vlm.Prompts;
using Xunit;

namespace SynthVlm.Cli.Tests;

/// <summary>`synthvlm vlm generate` and `vlm loss` as the built tool, on the tiny llava-hf fixture of the Vlm tests.</summary>
public sealed class VlmCommandsTests : IDisposable
{
    private static readonly string TinyModel = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Vlm.Tests", "Fixtures", "tiny-llava-hf");
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cli-vlm-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Task<ChildProcessResult> SynthVlmAsync(params string[] args) => SynthVlmTool.RunAsync(args);

    private string Image(string name, int w, int h)
    {
        using var image = RgbImage.Allocate(w, h);
        var px = image.Pixels;
        for (var i = 0; i < px.Length; i++)
        {
            px[i] = (byte)((i * 7) >> 2);
        }
        var path = Path.Combine(_dir, name);
        ImageCodec.EncodeFile(image, path);
        return path;
    }

    [Fact]
    public async Task Generate_prints_LLaVAs_vicuna_prompt_ids_with_one_image_token_and_the_libraries_greedy_answer()
    {
        var image = Image("wide.png", 60, 40);
        const string Prompt = "What is in the picture? Answer in a few words.";

        var result = await SynthVlmAsync("vlm", "generate", "--model", TinyModel, "--image", image, "--prompt", Prompt, "--max-new-tokens", "6");

        result.ExitCode.Should().Be(0, result.StandardError);
        result.Lines.Should().HaveCount(1);
        using var doc = JsonDocument.Parse(result.Lines[0]);
        var promptIds = doc.RootElement.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var ids = doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        // The PyTorch reference built this prompt with sentencepiece: BOS, system + " USER: ", the image, "\n{prompt} ASSISTANT:".
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(TinyModel, "..", "llava_reference.json")));
        var expected = reference.RootElement.GetProperty("generations")[1].GetProperty("prompt_ids").EnumerateArray()
            .Select(e => e.GetInt32() == -200 ? 512 : e.GetInt32());
        promptIds.Should().Equal(expected, "the image is the folder's <image> id (512), once, not expanded");
        ids.Should().HaveCount(6);

        using var pipeline = LlavaPipeline.Open(TinyModel);
        var inProcess = pipeline.Generate(Prompt, image, null, new GenerationOptions(MaxNewTokens: 6));
        ids.Should().Equal(inProcess.Ids);
        doc.RootElement.GetProperty("text").GetString().Should().Be(inProcess.Text);
    }

    [Fact]
    public async Task Loss_prints_a_line_per_sample_and_an_error_line_for_each_sample_it_cannot_use()
    {
        Image("a.png", 30, 50);
        File.WriteAllBytes(Path.Combine(_dir, "broken.png"), [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);
        var data = Path.Combine(_dir, "data.json");
        File.WriteAllText(data, """
            [
             {"id": "ok", "image": "a.png", "conversations": [{"from": "human", "value": "What is it?\n<image>"}, {"from": "gpt", "value": "A red bird on a boat."}]},
             {"id": "no-image-token", "image": "a.png", "conversations": [{"from": "human", "value": "What is it?"}, {"from": "gpt", "value": "A bird."}]},
             {"id": "two-images", "image": "a.png", "conversations": [{"from": "human", "value": "<image> and <image>"}, {"from": "gpt", "value": "Birds."}]},
             {"id": "empty-answer", "image": "a.png", "conversations": [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": " "}]},
             {"id": "broken-image", "image": "broken.png", "conversations": [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": "A bird."}]},
             {"id": "text-only", "conversations": [{"from": "human", "value": "Name a colour."}, {"from": "gpt", "value": "Red."}]}
            ]
            """);

        var result = await SynthVlmAsync("vlm", "loss", "--model", TinyModel, "--data", data, "--image-folder", _dir, "--template", "vicuna_v1");

        result.ExitCode.Should().Be(0, result.StandardError);
        var lines = result.Lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        lines.Select(l => l.GetProperty("id").GetString()).Should().Equal("ok", "no-image-token", "two-images", "empty-answer", "broken-image", "text-only");
        lines.Where(l => l.TryGetProperty("error", out _)).Select(l => l.GetProperty("id").GetString())
            .Should().Equal("no-image-token", "two-images", "empty-answer", "broken-image");
        lines[4].GetProperty("error").GetString().Should().Contain("broken.png");

        using var pipeline = LlavaPipeline.Open(TinyModel);
        var expected = pipeline.Loss(LlavaConversation.Read(data), _dir, ConversationTemplate.VicunaV1).ToList();
        foreach (var i in new[] { 0, 5 })
        {
            lines[i].GetProperty("loss").GetDouble().Should().BeApproximately(expected[i].Loss!.Value, 1e-9);
            lines[i].GetProperty("tokens").GetInt32().Should().Be(expected[i].Tokens).And.BeGreaterThan(0);
        }
    }

    [Fact]
    public async Task The_tiny_models_of_init_tiny_answer_in_both_layouts()
    {
        var init = await SynthVlmAsync("models", "init-tiny", "--dir", Path.Combine(_dir, "tiny"));
        init.ExitCode.Should().Be(0, init.StandardError);
        var image = Image("square.png", 20, 20);

        foreach (var layout in new[] { "llava", "llava-original" })
        {
            var result = await SynthVlmAsync("vlm", "generate", "--model", Path.Combine(_dir, "tiny", layout), "--image", image, "--prompt", "Describe it.", "--max-new-tokens", "3");
            result.ExitCode.Should().Be(0, result.StandardError);
            using var doc = JsonDocument.Parse(result.Lines.Single());
            var promptIds = doc.RootElement.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToList();
            promptIds[0].Should().Be(1);
            // LLaVA's layout marks the image with -200; llava-hf's with its added <image> token (512 in the tiny vocabulary).
            promptIds.Count(id => id == (layout == "llava" ? 512 : -200)).Should().Be(1, layout);
            doc.RootElement.GetProperty("ids").GetArrayLength().Should().BeInRange(1, 3);
        }
    }

    [Fact]
    public async Task Bad_arguments_and_folders_are_refused_with_the_reason()
    {
        var image = Image("x.png", 8, 8);

        var aspect = await SynthVlmAsync("vlm", "generate", "--model", TinyModel, "--image", image, "--prompt", "Hi", "--image-aspect", "stretch");
        var missing = await SynthVlmAsync("vlm", "generate", "--model", Path.Combine(_dir, "nope"), "--image", image, "--prompt", "Hi");
        var template = await SynthVlmAsync("vlm", "loss", "--model", TinyModel, "--data", "x.json", "--image-folder", _dir, "--template", "llama_2");
        var dtype = await SynthVlmAsync("vlm", "generate", "--model", TinyModel, "--image", image, "--prompt", "Hi", "--dtype", "fp8");
        var bf16 = await SynthVlmAsync("vlm", "generate", "--model", TinyModel, "--image", image, "--prompt", "Hi", "--dtype", "bf16", "--max-new-tokens", "2");

        aspect.ExitCode.Should().Be(2);
        aspect.StandardError.Should().Contain("--image-aspect must be pad or crop");
        missing.ExitCode.Should().Be(1);
        missing.StandardError.Should().Contain(Path.Combine(_dir, "nope")).And.Contain("not found");
        template.ExitCode.Should().Be(2);
        template.StandardError.Should().Contain("plain, vicuna_v1");
        dtype.ExitCode.Should().Be(2);
        dtype.StandardError.Should().Contain("--dtype must be fp32, bf16 or fp16");
        bf16.ExitCode.Should().Be(0, bf16.StandardError);
    }
}
