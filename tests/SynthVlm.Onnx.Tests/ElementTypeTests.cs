using SynthVlm.Onnx.Builder;

namespace SynthVlm.Onnx.Tests;

/// <summary>Every managed element type round-trips through ORT (Identity) and converts like ONNX Cast.</summary>
public sealed class ElementTypeTests
{
    private static byte[] IdentityModel(TensorElementType type)
    {
        var m = new OnnxModelBuilder("identity_" + type);
        // The builder's enum names only the common types; the ONNX numbers are the same for all.
        var t = (TensorDataType)(int)type;
        var x = m.Input("x", t, "n", 2);
        m.Node("Identity", [x], outputs: ["y"]);
        m.Output("y", t, "n", 2);
        return m.ToBytes();
    }

    private static void RoundTrip<T>(TensorElementType expected, T[] data)
        where T : unmanaged
    {
        OrtValue.ElementTypeOf<T>().Should().Be(expected);
        using var session = InferenceSession.FromBytes(IdentityModel(expected));
        session.Inputs[0].ElementType.Should().Be(expected);
        using var x = OrtValue.FromArray(data, data.Length / 2, 2);
        x.ElementType.Should().Be(expected);
        using var result = session.Run([new("x", x)], ["y"]);
        result[0].ElementType.Should().Be(expected);
        result[0].Shape.Should().Equal(data.Length / 2, 2);
        result[0].ToArray<T>().Should().Equal(data);
    }

    [Fact] public void Float_round_trips() => RoundTrip(TensorElementType.Float, [1.5f, -0f, float.MaxValue, float.Epsilon]);
    [Fact] public void Half_round_trips() => RoundTrip(TensorElementType.Float16, [(Half)1.5f, (Half)(-2f), Half.MaxValue, Half.Epsilon]);
    [Fact] public void Double_round_trips() => RoundTrip(TensorElementType.Double, [Math.PI, -1e300, double.Epsilon, 0]);
    [Fact] public void Int64_round_trips() => RoundTrip(TensorElementType.Int64, [long.MinValue, -1L, 0L, long.MaxValue]);
    [Fact] public void Int32_round_trips() => RoundTrip(TensorElementType.Int32, [int.MinValue, -1, 7, int.MaxValue]);
    [Fact] public void Int16_round_trips() => RoundTrip(TensorElementType.Int16, [short.MinValue, (short)-1, (short)7, short.MaxValue]);
    [Fact] public void Int8_round_trips() => RoundTrip(TensorElementType.Int8, [sbyte.MinValue, (sbyte)-1, (sbyte)7, sbyte.MaxValue]);
    [Fact] public void UInt8_round_trips() => RoundTrip(TensorElementType.UInt8, [(byte)0, (byte)1, (byte)128, byte.MaxValue]);
    [Fact] public void UInt16_round_trips() => RoundTrip(TensorElementType.UInt16, [(ushort)0, (ushort)1, (ushort)40000, ushort.MaxValue]);
    [Fact] public void UInt32_round_trips() => RoundTrip(TensorElementType.UInt32, [0u, 1u, 3_000_000_000u, uint.MaxValue]);
    [Fact] public void UInt64_round_trips() => RoundTrip(TensorElementType.UInt64, [0ul, 1ul, 1ul << 63, ulong.MaxValue]);
    [Fact] public void Bool_round_trips() => RoundTrip(TensorElementType.Bool, [true, false, false, true]);

    [Fact]
    public void Cast_from_float_matches_onnx_conversion_rules()
    {
        float[] x = [1.75f, -2.25f, 0f, 300.5f];
        var m = new OnnxModelBuilder("casts");
        var input = m.Input("x", TensorDataType.Float, 4);
        var targets = new[] { TensorElementType.Int32, TensorElementType.Int64, TensorElementType.Double, TensorElementType.Float16, TensorElementType.Bool, TensorElementType.Int8 };
        foreach (var t in targets)
        {
            m.Node("Cast", [input], attributes: [NodeAttribute.Int("to", (int)t)], outputs: [t.ToString()]);
            m.Output(t.ToString(), (TensorDataType)(int)t, 4);
        }
        using var session = InferenceSession.FromBytes(m.ToBytes());
        session.Outputs.Select(o => o.ElementType).Should().Equal(targets);
        using var vx = OrtValue.FromArray(x, 4);
        using var r = session.Run([new("x", vx)], [.. targets.Select(t => t.ToString())]);
        // Float -> integer Cast truncates toward zero (ONNX follows C casts).
        r["Int32"].ToArray<int>().Should().Equal(1, -2, 0, 300);
        r["Int64"].ToArray<long>().Should().Equal(1L, -2L, 0L, 300L);
        r["Double"].ToArray<double>().Should().Equal(1.75, -2.25, 0, 300.5);
        r["Float16"].ToArray<Half>().Should().Equal((Half)1.75f, (Half)(-2.25f), (Half)0f, (Half)300.5f);
        r["Bool"].ToArray<bool>().Should().Equal(true, true, false, true);
        r["Int8"].ToArray<sbyte>()[..3].Should().Equal((sbyte)1, (sbyte)(-2), (sbyte)0);
    }

    [Fact]
    public void Allocated_tensor_is_writable_and_typed()
    {
        using var v = OrtValue.Allocate(TensorElementType.Int32, 2, 3);
        v.ElementCount.Should().Be(6);
        v.Shape.Should().Equal(2, 3);
        var span = v.GetSpan<int>();
        for (var i = 0; i < span.Length; i++)
        {
            span[i] = i * i;
        }
        v.ToArray<int>().Should().Equal(0, 1, 4, 9, 16, 25);
        Action act = () => v.GetSpan<float>();
        act.Should().Throw<InvalidOperationException>().WithMessage("*int32*float32*");
    }

    [Fact]
    public void FromMemory_wraps_a_slice_without_copying()
    {
        var backing = new float[10];
        using var v = OrtValue.FromMemory(backing.AsMemory(2, 6), [2, 3]);
        v.GetSpan<float>()[0] = 42f;
        backing[2].Should().Be(42f);
        backing[7] = -1f;
        v.ToArray<float>()[5].Should().Be(-1f);
    }
}
