using SynthVlm;
using SynthVlm.EvalService;
using SynthVlm.ServiceDefaults;

// The eval stage: a model on the paper's benchmarks with the official metrics, one job at a time
// (Eval gRPC: Submit, Watch, Cancel, List), and the stream worker that evaluates the trained
// models of runs that opt in (synthvlm:checkpoints -> synthvlm:evaluations).
return ServiceHost.Run(args, KnownServices.Eval, EvalSetup.ConfigureServices, EvalSetup.ConfigureApp);
