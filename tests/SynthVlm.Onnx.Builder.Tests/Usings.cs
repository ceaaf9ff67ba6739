global using SynthVlm.Onnx;
global using SynthVlm.Testing;
