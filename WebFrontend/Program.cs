using SynthVlm.WebFrontend;

// SynthVlm's own views as a web front end (the `web` resource): runs with per-stage progress,
// rate and ETA, drops by reason, dead letters and the image gallery. Resources, console logs,
// traces, structured logs and metrics are the Aspire dashboard's.
return WebFrontendHost.Run(args);
