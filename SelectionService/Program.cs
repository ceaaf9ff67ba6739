using SynthVlm;
using SynthVlm.ServiceDefaults;

// The selection stage: settings, telemetry, health and the platform gRPC services come from
// ServiceDefaults; the stage's own work is registered here as its capability lands.
return ServiceHost.Run(args, KnownServices.Selection);
