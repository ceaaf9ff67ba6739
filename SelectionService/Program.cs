using SynthVlm;
using SynthVlm.SelectionService;
using SynthVlm.ServiceDefaults;

// The selection stage: records every scored image of synthvlm:scored durably next to the data,
// and when a run's scoring is done takes the best variant per caption, the exact global top K,
// and writes the dataset (LLaVA JSON, images, manifest, WebDataset shards, report).
return ServiceHost.Run(args, KnownServices.Selection, SelectionSetup.ConfigureServices);
