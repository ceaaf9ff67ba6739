using SynthVlm;
using SynthVlm.CurationService;
using SynthVlm.ServiceDefaults;

// The curation stage and the front door of runs: Runs.Submit/Get/Watch/Cancel/List, reading
// caption pools into synthvlm:captions, and the rule filters (synthvlm:captions ->
// synthvlm:curated).
return ServiceHost.Run(args, KnownServices.Curation, CurationSetup.ConfigureServices, CurationSetup.ConfigureApp);
