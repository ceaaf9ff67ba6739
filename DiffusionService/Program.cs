using SynthVlm;
using SynthVlm.DiffusionService;
using SynthVlm.ServiceDefaults;

// The diffusion stage: SDXL generation of every curated caption's variants (stream worker on
// synthvlm:curated -> blob store + synthvlm:generated) and the Diffusion gRPC API.
return ServiceHost.Run(args, KnownServices.Diffusion, DiffusionSetup.ConfigureServices, DiffusionSetup.ConfigureApp);
