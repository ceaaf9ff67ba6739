global using Microsoft.ML.OnnxRuntime;
global using Microsoft.ML.OnnxRuntime.Tensors;
global using SynthVlm.Onnx;
global using SynthVlm.Testing;
