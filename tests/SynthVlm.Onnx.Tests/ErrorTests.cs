namespace SynthVlm.Onnx.Tests;

public sealed class ErrorTests
{
    [Fact]
    public void Missing_model_file_is_NoSuchFile_naming_the_path()
    {
        var path = Path.Combine(Path.GetTempPath(), $"synthvlm-missing-{Guid.NewGuid():N}.onnx");
        var act = () => InferenceSession.Load(path);
        var e = act.Should().Throw<OnnxRuntimeException>().Which;
        e.Code.Should().Be(OrtErrorCode.NoSuchFile);
        e.Message.Should().Contain(path);
    }

    [Fact]
    public void Garbage_bytes_are_InvalidProtobuf()
    {
        var act = () => InferenceSession.FromBytes("this is not a protobuf at all, just text"u8);
        var e = act.Should().Throw<OnnxRuntimeException>().Which;
        e.Code.Should().Be(OrtErrorCode.InvalidProtobuf);
        e.Message.Should().Contain("in-memory model");
    }

    [Fact]
    public void Empty_model_bytes_are_rejected_before_ORT()
    {
        var act = () => InferenceSession.FromBytes([]);
        act.Should().Throw<ArgumentException>().WithParameterName("model");
    }

    private static InferenceSession Linear() => InferenceSession.FromBytes(TestModels.Linear("image_batch_size").Model);

    [Fact]
    public void Unknown_input_name_lists_the_model_inputs()
    {
        using var session = Linear();
        using var v = OrtValue.FromArray(new float[3], 1, 3);
        var act = () => session.Run([new("pixels", v)], ["y"]);
        act.Should().Throw<ArgumentException>().WithMessage("*has no input 'pixels'*x: float32 [image_batch_size, 3]*");
    }

    [Fact]
    public void Wrong_dtype_names_input_model_expected_and_actual()
    {
        using var session = Linear();
        using var v = OrtValue.FromArray(new long[3], 1, 3);
        var act = () => session.Run([new("x", v)], ["y"]);
        act.Should().Throw<ArgumentException>()
            .Which.Message.Should().StartWith($"input 'x' of model {session.ModelPath} expects float32 [image_batch_size, 3], got int64 [1, 3]");
    }

    [Fact]
    public void Wrong_rank_is_rejected_before_ORT()
    {
        using var session = Linear();
        using var v = OrtValue.FromArray(new float[3], 3);
        var act = () => session.Run([new("x", v)], ["y"]);
        act.Should().Throw<ArgumentException>().WithMessage("*expects float32 [image_batch_size, 3], got float32 [3]*");
    }

    [Fact]
    public void Wrong_fixed_dimension_names_the_dimension()
    {
        using var session = Linear();
        using var v = OrtValue.FromArray(new float[8], 2, 4);
        var act = () => session.Run([new("x", v)], ["y"]);
        act.Should().Throw<ArgumentException>().WithMessage("*got float32 [2, 4] (dimension 1 must be 3)*");
    }

    [Fact]
    public void Missing_duplicate_inputs_and_unknown_outputs_are_rejected()
    {
        using var session = InferenceSession.FromBytes(TestModels.AddBuilder().ToBytes());
        using var a = OrtValue.FromArray(new float[6], 2, 3);
        var missing = () => session.Run([new("a", a)], ["z"]);
        missing.Should().Throw<ArgumentException>().WithMessage("*needs input b: float32 [2, 3]*");
        var duplicate = () => session.Run([new("a", a), new("a", a)], ["z"]);
        duplicate.Should().Throw<ArgumentException>().WithMessage("*'a'*more than once*");
        var output = () => session.Run([new("a", a), new("b", a)], ["w"]);
        output.Should().Throw<ArgumentException>().WithMessage("*has no output 'w'*z: float32 [2, 3]*");
    }

    [Fact]
    public void Shape_not_matching_buffer_is_rejected()
    {
        var act = () => OrtValue.FromArray(new float[5], 2, 3);
        act.Should().Throw<ArgumentException>().WithMessage("Tensor shape [2, 3] holds 6 float32 elements but the buffer has 5.*");
        var negative = () => OrtValue.FromArray(new float[5], -1, 5);
        negative.Should().Throw<ArgumentException>().WithMessage("*negative dimension*");
    }

    [Fact]
    public void Disposed_values_and_sessions_throw_ObjectDisposed()
    {
        var session = InferenceSession.FromBytes(TestModels.AddBuilder().ToBytes());
        var a = OrtValue.FromArray(new float[6], 2, 3);
        using var b = OrtValue.FromArray(new float[6], 2, 3);
        a.Dispose();
        var useValue = () => session.Run([new("a", a), new("b", b)], ["z"]);
        useValue.Should().Throw<ObjectDisposedException>();
        Action readValue = () => a.GetSpan<float>();
        readValue.Should().Throw<ObjectDisposedException>();
        session.Dispose();
        var useSession = () => session.Run([new("a", b), new("b", b)], ["z"]);
        useSession.Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public void OrtValueList_by_unknown_name_lists_the_names()
    {
        using var session = InferenceSession.FromBytes(TestModels.AddBuilder().ToBytes());
        using var a = OrtValue.FromArray(new float[6], 2, 3);
        using var result = session.Run([new("a", a), new("b", a)], ["z"]);
        var act = () => result["q"];
        act.Should().Throw<KeyNotFoundException>().WithMessage("*'q'*z*");
    }
}
