using SynthVlm;
using SynthVlm.RecaptionService;
using SynthVlm.ServiceDefaults;

// The recaption stage: images in, a caption pool out, one job at a time (Recaption gRPC: Submit,
// Watch, Cancel, List), and the stream worker that recaptions the images of runs that start from
// images (synthvlm:images -> the run's pool, ingested by curation into synthvlm:captions).
return ServiceHost.Run(args, KnownServices.Recaption, RecaptionSetup.ConfigureServices, RecaptionSetup.ConfigureApp);
