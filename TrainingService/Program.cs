using SynthVlm;
using SynthVlm.ServiceDefaults;
using SynthVlm.TrainingService;

// The training stage: LLaVA-1.5 stage 1/2 jobs, one at a time (Training gRPC: Submit, Watch,
// Cancel, List), and the stream worker that trains on the datasets of runs that opt in
// (synthvlm:datasets -> synthvlm:checkpoints).
return ServiceHost.Run(args, KnownServices.Training, TrainingSetup.ConfigureServices, TrainingSetup.ConfigureApp);
