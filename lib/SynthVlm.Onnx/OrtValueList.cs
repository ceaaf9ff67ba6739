using System.Collections;

namespace SynthVlm.Onnx;

/// <summary>Outputs of a run, in the order asked for; disposing the list disposes every value.</summary>
public sealed class OrtValueList : IReadOnlyList<OrtValue>, IDisposable
{
    private readonly OrtValue[] _values;
    private readonly string[] _names;

    internal OrtValueList(OrtValue[] values, string[] names)
    {
        _values = values;
        _names = names;
    }

    /// <summary>The output names, parallel to the values.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <inheritdoc />
    public int Count => _values.Length;

    /// <inheritdoc />
    public OrtValue this[int index] => _values[index];

    /// <summary>The output with this name.</summary>
    /// <exception cref="KeyNotFoundException">No output of that name was requested.</exception>
    public OrtValue this[string name]
    {
        get
        {
            var index = Array.IndexOf(_names, name);
            return index >= 0
                ? _values[index]
                : throw new KeyNotFoundException($"No output named '{name}' in this result; it holds: {string.Join(", ", _names)}.");
        }
    }

    /// <inheritdoc />
    public IEnumerator<OrtValue> GetEnumerator() => ((IEnumerable<OrtValue>)_values).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Disposes every value.</summary>
    public void Dispose()
    {
        foreach (var value in _values)
        {
            value.Dispose();
        }
    }
}
