using System.CommandLine;
using SynthVlm.Cli;

// synthvlm: each operation of SynthVlm, usable on its own.
var root = new RootCommand("SynthVlm: synthetic image-caption datasets for vision-language models.")
{
    PlatformCommands.Health(),
    PlatformCommands.Worker(),
    PlatformCommands.Queue(),
    ImagingCommands.Ssim(),
    ImagingCommands.SsimScore(),
    ImagingCommands.Resize(),
    ModelCommands.Models(),
    ModelCommands.Tokenize(),
    ModelCommands.ClipScoreCommand(),
    GenerateCommands.Generate(),
    CurateCommands.Curate(),
    VlmCommands.Vlm(),
    TrainCommands.Train(),
    EvalCommands.Eval(),
    HallucinationCommands.Hallucination(),
    RecaptionCommands.Recaption(),
    DpoRoundCommands.DpoRound(),
    DpoRoundCommands.Sft(),
};
return await root.Parse(args).InvokeAsync();
