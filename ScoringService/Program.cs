using SynthVlm;
using SynthVlm.ScoringService;
using SynthVlm.ServiceDefaults;

// The scoring stage: CLIPScore + SSIMScore of every generated image (stream worker on
// synthvlm:generated -> synthvlm:scored) and the Scoring gRPC API for pairs sent directly.
return ServiceHost.Run(args, KnownServices.Scoring, ScoringSetup.ConfigureServices, ScoringSetup.ConfigureApp);
