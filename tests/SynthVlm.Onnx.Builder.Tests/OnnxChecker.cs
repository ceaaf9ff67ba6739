namespace SynthVlm.Onnx.Builder.Tests;

/// <summary>The official onnx package's checker and shape inference, run by the reference Python.</summary>
internal static class OnnxChecker
{
    private const string Script = """
        import sys, onnx
        from onnx import shape_inference
        m = onnx.load(sys.argv[1])
        onnx.checker.check_model(m, full_check=True)
        shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
        print("ok")
        """;

    public static async Task CheckAsync(byte[] model)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"onnxcheck_{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var path = Path.Combine(dir, "model.onnx");
            var script = Path.Combine(dir, "check.py");
            await File.WriteAllBytesAsync(path, model);
            await File.WriteAllTextAsync(script, Script);
            var result = await ChildProcess.RunPythonAsync(script, [path]).WithTimeout(TimeSpan.FromSeconds(60));
            result.ExitCode.Should().Be(0, result.StandardError);
            result.Lines.Should().Contain("ok");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
